"""`fusebox topics` and the aggregator create the registry's topics with the configured durability."""
from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from fusebox.core.topics import ALL_TOPICS, CALL_OUTCOMES
from fusebox.kafka_admin import ensure_topics
from tests.harness import Stack


async def topic_configs(bootstrap: str, topic: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    return {entry[0]: entry[1] for entry in described[0].resources[0][4]}


async def test_topics_carry_the_configured_min_insync_replicas(stack: Stack) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    created = await ensure_topics(stack.kafka_bootstrap, prefix, min_insync_replicas=1)
    assert sorted(created) == sorted(spec.name(prefix) for spec in ALL_TOPICS)
    configs = await topic_configs(stack.kafka_bootstrap, CALL_OUTCOMES.name(prefix))
    assert configs["min.insync.replicas"] == "1"
    assert configs["cleanup.policy"] == "delete"


async def test_a_replication_factor_the_cluster_cannot_hold_is_refused_with_the_topic_named(stack: Stack) -> None:
    # the test broker is a single node: three replicas cannot be placed
    prefix = f"t{uuid.uuid4().hex[:10]}."
    with pytest.raises(RuntimeError, match=rf"could not create topic {prefix}call-outcomes: error 38"):
        await ensure_topics(stack.kafka_bootstrap, prefix, [CALL_OUTCOMES], replication_factor=3)
