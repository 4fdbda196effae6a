"""Fixtures of the gateway's integration tests: the real Kafka, PostgreSQL and Redis via the session stack."""
from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.integration.api.support import Gateway, Topics, running_gateway, gateway_settings


@pytest.fixture
def api_settings(stack, topics, database_url):
    return gateway_settings(stack, topics, database_url)


@pytest.fixture
async def kafka_topics(stack, topics) -> AsyncIterator[Topics]:
    producer = Topics(stack.kafka_bootstrap, topics)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


@pytest.fixture
async def gateway(api_settings) -> AsyncIterator[Gateway]:
    async with running_gateway(api_settings) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
