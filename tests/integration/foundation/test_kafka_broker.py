"""The local broker behaves as the services need: keyed order, exactly-once reads, compaction settings."""
from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from tests.harness import Stack

MESSAGES = 10_000
KEYS = 50


async def create_topic(bootstrap: str, name: str, partitions: int, config: dict[str, str] | None = None) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=config or {})])
    finally:
        await admin.close()


async def test_keyed_messages_are_read_back_exactly_once_in_per_key_order(stack: Stack) -> None:
    # Given a 6-partition topic and an idempotent acks=all producer
    topic = f"t{uuid.uuid4().hex[:8]}.keyed"
    await create_topic(stack.kafka_bootstrap, topic, 6)
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all", enable_idempotence=True,
                                linger_ms=5)
    await producer.start()
    try:
        # When 10,000 keyed messages are sent
        for i in range(MESSAGES):
            key = f"svc-{i % KEYS}"
            await producer.send(topic, key=key.encode(), value=f"{key}:{i // KEYS}".encode())
        await producer.flush()
    finally:
        await producer.stop()

    # Then a consumer group reads every message exactly once, in order per key
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=stack.kafka_bootstrap, group_id=f"g-{topic}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    seen: dict[str, list[int]] = defaultdict(list)
    total = 0
    try:
        async with asyncio.timeout(60):
            while total < MESSAGES:
                batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
                for records in batches.values():
                    for record in records:
                        key, index = record.value.decode().split(":")
                        assert record.key.decode() == key
                        seen[key].append(int(index))
                        total += 1
        extra = await consumer.getmany(timeout_ms=500)
    finally:
        await consumer.stop()
    assert total == MESSAGES
    assert not any(extra.values())
    assert len(seen) == KEYS
    for key, indexes in seen.items():
        assert indexes == list(range(MESSAGES // KEYS)), key


async def test_a_compacted_topic_is_created_with_the_compact_cleanup_policy(stack: Stack) -> None:
    # Given a topic created with cleanup.policy=compact
    topic = f"t{uuid.uuid4().hex[:8]}.compacted"
    await create_topic(stack.kafka_bootstrap, topic, 3, {"cleanup.policy": "compact", "segment.ms": "100",
                                                          "min.cleanable.dirty.ratio": "0.01"})
    # When its configuration is described through the admin API
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    # Then the broker reports the compact policy
    configs = {entry[0]: entry[1] for entry in described[0].resources[0][4]}
    assert configs["cleanup.policy"] == "compact"


async def test_the_broker_does_not_auto_create_topics(stack: Stack) -> None:
    # Given a topic name nobody created
    topic = f"t{uuid.uuid4().hex[:8]}.absent"
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, request_timeout_ms=3000)
    await producer.start()
    try:
        # When a producer asks for its metadata, Then the topic does not appear
        metadata = await producer.client.fetch_all_metadata()
        assert topic not in metadata.topics()
    finally:
        await producer.stop()
