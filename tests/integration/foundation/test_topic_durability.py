"""`fusebox topics` and the aggregator create the registry's topics with the configured durability."""
from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from fusebox.core.topics import ALL_TOPICS, BREAKER_COMMANDS, BREAKER_STATES, CALL_OUTCOMES, COMMAND_RESULTS
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


async def created_configs(bootstrap: str, topic: str, timeout_s: float = 15.0) -> dict[str, str]:
    """The configs of a topic just created: the broker describes it once its creation has settled."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        configs = await topic_configs(bootstrap, topic)
        if configs or asyncio.get_running_loop().time() > deadline:
            return configs
        await asyncio.sleep(0.1)


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


async def test_the_refold_inputs_are_kept_for_the_configured_outcome_retention(stack: Stack) -> None:
    # Given topics created with 3 days of outcome retention
    prefix = f"t{uuid.uuid4().hex[:10]}."
    await ensure_topics(stack.kafka_bootstrap, prefix, outcome_retention_days=3)
    # Then the inputs a re-fold reads keep 3 days, and the others what the registry says
    for spec in (CALL_OUTCOMES, BREAKER_COMMANDS, COMMAND_RESULTS):
        configs = await created_configs(stack.kafka_bootstrap, spec.name(prefix))
        assert configs.get("retention.ms") == str(3 * 24 * 60 * 60 * 1000), (spec.suffix, configs)
    states = await created_configs(stack.kafka_bootstrap, BREAKER_STATES.name(prefix))
    assert states["cleanup.policy"] == "compact"


async def test_the_outcome_retention_defaults_to_seven_days(stack: Stack) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    await ensure_topics(stack.kafka_bootstrap, prefix, [CALL_OUTCOMES])
    configs = await created_configs(stack.kafka_bootstrap, CALL_OUTCOMES.name(prefix))
    assert configs["retention.ms"] == str(7 * 24 * 60 * 60 * 1000)
