"""Reading whole topics without a consumer group: every partition assigned, read from the start."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from fusebox.kafka_security import kafka_client_options


async def assigned_partitions(consumer: AIOKafkaConsumer, topic: str, timeout_s: float = 10.0) -> list[TopicPartition]:
    """Subscribe a started, group-less consumer to `topic`; return all its partitions, sorted."""
    consumer.subscribe([topic])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not consumer.assignment() and loop.time() < deadline:
        await asyncio.sleep(0.05)
    partitions = sorted(consumer.assignment())
    if not partitions:
        raise KafkaError(f"topic {topic} has no partitions")
    return partitions


async def read_from_start(bootstrap: str, topic: str) -> AsyncIterator[ConsumerRecord]:
    """Every record of `topic`, partition by partition in offset order, up to the end as of the start of reading."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=8 * 1024 * 1024,
                                **kafka_client_options())
    await consumer.start()
    try:
        partitions = await assigned_partitions(consumer, topic)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        for tp in partitions:
            if ends[tp] <= starts[tp]:
                continue
            consumer.seek(tp, starts[tp])
            consumer.pause(*(other for other in partitions if other != tp))
            consumer.resume(tp)
            done = False
            while not done:
                batches = await consumer.getmany(tp, timeout_ms=1000, max_records=20000)
                for record in batches.get(tp, ()):
                    yield record
                    if record.offset >= ends[tp] - 1:
                        done = True
    finally:
        await consumer.stop()
