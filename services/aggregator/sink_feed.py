"""Feeds the PostgreSQL sinks from the output topics they mirror, in batches.

    health-history ──┐                                     ┌─► history sink   ─► circuit_breaker_history
    command-results ─┼─► consumer group "<app id>-sinks" ──┼─► config projection ─► circuit_breaker_config
    metric-rollups ──┘   (getmany, one batch at a time)    └─► rollup sink    ─► metric_rollups

A plain aiokafka consumer with a group of its own, beside the Faust app: the sinks need neither
the state table nor co-partitioning, and reading a batch per poll costs a fraction of Faust's
per-event streams. Workers share the sink partitions as they share the inputs.

Offsets are committed after every handler has written its part of the batch. While PostgreSQL is
down a write retries (sinks.py), the feed polls nothing more, and the fold goes on: the outputs
wait in Kafka. A batch whose commit is refused by a rebalance is read again by the new owner;
the writes are upserts on natural keys, so that repeats nothing.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from fusebox.kafka_security import kafka_client_options

logger = logging.getLogger("fusebox.aggregator.sinks")

Handler = Callable[[list[bytes]], Awaitable[None]]  # the batch's record values of one topic


class SinkFeed:
    def __init__(self, bootstrap: str, group: str, handlers: Mapping[str, Handler], batch: int,
                 max_wait_ms: int = 500) -> None:
        self._bootstrap = bootstrap
        self._group = group
        self._handlers = dict(handlers)  # topic name -> writer of that topic's values
        self._batch = batch
        self._max_wait_ms = max_wait_ms

    async def run(self) -> None:
        """Write batches until cancelled."""
        consumer = AIOKafkaConsumer(
            *self._handlers, bootstrap_servers=self._bootstrap, group_id=self._group, enable_auto_commit=False,
            auto_offset_reset="earliest", max_partition_fetch_bytes=4 * 1024 * 1024,
            **kafka_client_options())
        await consumer.start()
        try:
            while True:
                fetched = await consumer.getmany(timeout_ms=self._max_wait_ms, max_records=self._batch)
                if fetched:
                    await self._write(consumer, fetched)
        finally:
            await asyncio.shield(consumer.stop())  # leave the group cleanly even when cancelled again

    async def _write(self, consumer: AIOKafkaConsumer, fetched: Mapping) -> None:
        by_topic: dict[str, list[bytes]] = {}
        for tp, records in fetched.items():
            values = by_topic.setdefault(tp.topic, [])
            values.extend(record.value for record in records if record.value is not None)
        for topic, values in by_topic.items():
            if values:
                await self._handlers[topic](values)
        offsets = {tp: records[-1].offset + 1 for tp, records in fetched.items() if records}
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:  # a rebalance or a broker away: whoever reads next upserts them again
            logger.warning("sink offsets not committed (%r); the batch will be read and upserted again", exc)
