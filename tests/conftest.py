"""Fixtures shared by every tier. The stack starts only when a test asks for it."""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from fusebox.kafka_admin import ensure_topics
from fusebox.storage.schema import schema_for_prefix
from tests.harness import Stack, drop_database, fresh_database, start_stack


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The real Kafka, PostgreSQL and Redis of this test session."""
    running = start_stack()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def topic_prefix() -> str:
    """A topic prefix of this test's own, so tests never see each other's records."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
async def topics(stack: Stack, topic_prefix: str) -> str:
    """Every registry topic created under this test's prefix; returns the prefix."""
    await ensure_topics(stack.kafka_bootstrap, topic_prefix)
    return topic_prefix


@pytest.fixture
def database_url(stack: Stack, topic_prefix: str) -> Iterator[str]:
    """A fresh database of this test's own, migrated in the schema of the test's topic prefix.

    The URL's connections see that schema, as the deployment's own connections do."""
    url = fresh_database(stack.database_url, schema_for_prefix(topic_prefix))
    try:
        yield url
    finally:
        drop_database(stack.database_url, url)


@pytest.fixture
async def redis_client(stack: Stack) -> AsyncIterator[object]:
    import redis.asyncio as redis

    client = redis.from_url(stack.redis_url)
    try:
        yield client
    finally:
        await client.aclose()
