"""The 5-second metrics cache: Redis when configured (shared by replicas), in process otherwise."""
from __future__ import annotations

import time

import aiohttp
import psycopg
import pytest

from fusebox.aggregator import rollup_store
from fusebox.api import keys
from fusebox.core import rollups
from tests.integration.api.support import (BASE, Topics, admin_token, bearer, gateway_settings, running_gateway,
                                           service_state, wait_for)


class CountingDatabase:
    """The reader's Database, counting the PostgreSQL round trips it makes."""

    def __init__(self, db):
        self.db = db
        self.calls = 0

    async def run(self, work):
        self.calls += 1
        return await self.db.run(work)


async def store_minute(database_url: str, service: str, minute: int, part: int, calls: int) -> None:
    bucket = rollups._new_bucket(part)
    for _ in range(calls):
        rollups.add(bucket, "success", 20.0)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await rollup_store.write_rollups(conn, [rollups.rollup_value(service, minute, bucket)])


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "in-process"])
async def test_a_second_call_within_5s_does_not_query_postgresql_and_fresh_data_shows_after(
        stack, topics, database_url, shared):
    # Given a known service with 3 calls in a closed minute of the last hour
    service = "cached.svc"
    producer = Topics(stack.kafka_bootstrap, topics)
    await producer.start()
    await producer.publish_state(service_state(service))
    await producer.stop()
    now = int(time.time() * 1000)
    minute = now - now % 60_000 - 10 * 60_000
    await store_minute(database_url, service, minute, 0, 3)
    settings = gateway_settings(stack, topics, database_url, redis_url=stack.redis_url if shared else None)
    async with running_gateway(settings) as gateway, aiohttp.ClientSession() as http:
        await wait_for(lambda: service in gateway.view, what="the state")
        reader = gateway.app[keys.METRICS_READER].reader
        reader.db = counting = CountingDatabase(reader.db)
        url = f"{gateway.url}{BASE}/{service}/metrics?timeframe=1h"

        async def request_count() -> int:
            async with http.get(url, headers=bearer(admin_token())) as response:
                assert response.status == 200
                return (await response.json())["data"]["requestCount"]

        # When it is asked for, then 2 more calls are stored, and it is asked for again at once
        first_at = time.monotonic()
        assert await request_count() == 3
        await store_minute(database_url, service, minute, 1, 2)
        assert await request_count() == 3
        # Then the second answer came from the cache: one PostgreSQL query in all
        assert time.monotonic() - first_at < 5 and counting.calls == 1

        # And once the 5 s have passed, the fresh data shows
        async def fresh() -> bool:
            return await request_count() == 5

        await wait_for(fresh, timeout_s=15, interval_s=0.5, what="fresh metrics after the cache expired")
        assert time.monotonic() - first_at >= 5 and counting.calls == 2
