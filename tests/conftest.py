"""Fixtures shared by every tier. The stack starts only when a test asks for it."""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest

from fusebox.kafka_admin import ensure_topics
from fusebox.storage.migrations import apply_migrations
from tests.harness import Stack, start_stack


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
def database_url(stack: Stack) -> Iterator[str]:
    """A fresh, migrated database of this test's own."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin_url = stack.database_url
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    apply_migrations(url)
    try:
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def redis_client(stack: Stack) -> AsyncIterator[object]:
    import redis.asyncio as redis

    client = redis.from_url(stack.redis_url)
    try:
        yield client
    finally:
        await client.aclose()
