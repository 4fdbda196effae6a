"""PostgreSQL through a psycopg pool and Redis answer round trips."""
from __future__ import annotations

import uuid

from psycopg_pool import AsyncConnectionPool


async def test_a_pooled_psycopg_connection_round_trips_a_row(database_url: str) -> None:
    # Given a pool on a fresh, migrated database
    async with AsyncConnectionPool(database_url, min_size=1, max_size=2, open=False) as pool:
        await pool.wait(timeout=10)
        async with pool.connection() as conn:
            # When a config row is written and read back
            await conn.execute(
                "INSERT INTO circuit_breaker_config (service_name, failure_threshold) VALUES (%s, %s)",
                ("payments-api", 7),
            )
            cur = await conn.execute(
                "SELECT failure_threshold, reset_timeout_ms, min_healthy_period_ms "
                "FROM circuit_breaker_config WHERE service_name = %s",
                ("payments-api",),
            )
            row = await cur.fetchone()
    # Then the seed's migration defaults are there
    assert row == (7, 30000, 60000)


async def test_redis_round_trips_a_value(redis_client) -> None:
    # Given a key of this test's own
    key = f"fusebox:test:{uuid.uuid4().hex}"
    # When it is set with an expiry and read back
    await redis_client.set(key, b"42", ex=30)
    # Then the value comes back
    assert await redis_client.get(key) == b"42"
