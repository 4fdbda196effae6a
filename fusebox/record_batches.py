"""Sending many records as one Kafka record batch per topic partition.

`AIOKafkaProducer.send()` costs a coroutine, a future and a partitioner call per record; building
the batches directly costs an append. Both the SDK's publisher and the aggregator's producer send
this way, then wait for the acknowledgements of all the batches they sent.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

# The Java client's murmur2 partitioner: records keyed by service land where every Fusebox producer
# (and any Java producer) puts them, so call-outcomes stay co-partitioned with breaker-commands.
partition_for_key = DefaultPartitioner()


class RecordBatches:
    """Open record batches by (topic, partition); a full batch is shipped and a new one started."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._open: dict[tuple[str, int], object] = {}
        self._sent: list[asyncio.Future] = []

    async def add(self, topic: str, partition: int, key: bytes | None, value: bytes | None,
                  headers: Sequence[tuple[str, bytes]] | None = None) -> None:
        producer = self._producer
        builder = self._open.get((topic, partition))
        if builder is None:
            builder = self._open[(topic, partition)] = producer.create_batch()
        if builder.append(timestamp=None, key=key, value=value, headers=headers or []) is None:
            self._sent.append(await producer.send_batch(builder, topic, partition=partition))
            builder = self._open[(topic, partition)] = producer.create_batch()
            builder.append(timestamp=None, key=key, value=value, headers=headers or [])

    async def send_and_wait(self) -> None:
        """Ship the open batches and wait until Kafka acknowledges every batch sent."""
        producer = self._producer
        for (topic, partition), builder in self._open.items():
            self._sent.append(await producer.send_batch(builder, topic, partition=partition))
        self._open.clear()
        sent, self._sent = self._sent, []
        await asyncio.gather(*sent)
