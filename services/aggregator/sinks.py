"""PostgreSQL sinks: history rows, the config projection and history retention.

Every write is an upsert on a natural key, so redelivery and replay never duplicate rows. When
PostgreSQL is unavailable a write is retried until it succeeds; the caller does not ack its
records before that, so the consumer resumes from its committed offset after a crash.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from psycopg_pool import AsyncConnectionPool

from fusebox.core.commands import CONFIG_UPDATE, SHADOW_PROMOTE
from fusebox.core.isotime import datetime_of_ms, naive_utc, parse_iso_ms
from fusebox.storage.schema import scoped_conninfo
from fusebox.aggregator import rollup_store
from fusebox.aggregator.metrics import HISTORY_ROWS, ROLLUP_ROWS, SINK_ERRORS, TRANSITION_ROWS

logger = logging.getLogger("fusebox.aggregator.sinks")

# One statement per batch: PostgreSQL takes the HealthHistoryEntry documents as they are on the
# topic and extracts the columns itself; a redelivered entry within the batch counts once (the last).
UPSERT_HISTORY = """
INSERT INTO circuit_breaker_history
    (service_name, seq, timestamp, status, duration_ms, incidents, metrics, transition_seq)
SELECT DISTINCT ON (e->>'service', (e->>'seq')::bigint)
       e->>'service', (e->>'seq')::bigint, (e->>'timestamp')::timestamptz AT TIME ZONE 'UTC', e->>'status',
       (e->>'duration')::bigint, COALESCE((e->>'incidents')::integer, 0), COALESCE(e->'metrics', '{}'::jsonb),
       (e->>'transitionSeq')::bigint
FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS entries(e, n)
ORDER BY e->>'service', (e->>'seq')::bigint, n DESC
ON CONFLICT (service_name, seq) DO UPDATE SET
    timestamp = EXCLUDED.timestamp, status = EXCLUDED.status, duration_ms = EXCLUDED.duration_ms,
    incidents = EXCLUDED.incidents, metrics = EXCLUDED.metrics, transition_seq = EXCLUDED.transition_seq
"""

UPSERT_CONFIG = """
INSERT INTO circuit_breaker_config
    (service_name, failure_threshold, reset_timeout_ms, min_healthy_period_ms, request_limit, updated_at)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (service_name) DO UPDATE SET
    failure_threshold = EXCLUDED.failure_threshold, reset_timeout_ms = EXCLUDED.reset_timeout_ms,
    min_healthy_period_ms = EXCLUDED.min_healthy_period_ms, request_limit = EXCLUDED.request_limit,
    updated_at = EXCLUDED.updated_at
WHERE circuit_breaker_config.updated_at <= EXCLUDED.updated_at
"""

# BreakerTransition documents as on the breaker-transitions topic; (service, shadow, seq) is their natural key.
UPSERT_TRANSITIONS = """
INSERT INTO circuit_breaker_transitions (service_name, shadow, seq, at, from_state, to_state, rule, transition)
SELECT DISTINCT ON (e->>'service', coalesce((e->>'shadow')::boolean, false), (e->>'seq')::bigint)
       e->>'service', coalesce((e->>'shadow')::boolean, false), (e->>'seq')::bigint,
       (e->>'at')::timestamptz AT TIME ZONE 'UTC', e->>'from', e->>'to', e->'cause'->>'rule', e
FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS entries(e, n)
ORDER BY e->>'service', coalesce((e->>'shadow')::boolean, false), (e->>'seq')::bigint, n DESC
ON CONFLICT (service_name, shadow, seq) DO UPDATE SET
    at = EXCLUDED.at, from_state = EXCLUDED.from_state, to_state = EXCLUDED.to_state, rule = EXCLUDED.rule,
    transition = EXCLUDED.transition
"""

DELETE_EXPIRED_HISTORY = "DELETE FROM circuit_breaker_history WHERE timestamp < %s"
DELETE_EXPIRED_TRANSITIONS = "DELETE FROM circuit_breaker_transitions WHERE at < %s"


# The commands whose result is the live config: a promoted shadow config is a config change too.
_LIVE_CONFIG_COMMANDS = (CONFIG_UPDATE, SHADOW_PROMOTE)


def config_row(result: dict) -> tuple:
    config = result["result"]["config"]
    return (result["service"], config["failureThreshold"], config["resetTimeoutMs"],
            config["minHealthyPeriodMs"], config.get("requestLimit"),
            datetime_of_ms(parse_iso_ms(result["appliedAt"])))


class PostgresSink:
    """Batched, retried writes to PostgreSQL through one connection pool."""

    def __init__(self, database_url: str, schema: str, *, retry_initial_s: float = 0.2,
                 retry_max_s: float = 5.0) -> None:
        self._pool = AsyncConnectionPool(scoped_conninfo(database_url, schema), min_size=1, max_size=4, open=False,
                                         kwargs={"autocommit": False}, timeout=10)
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._opened = False

    async def open(self) -> None:
        if not self._opened:
            await self._pool.open(wait=False)
            self._opened = True

    async def close(self) -> None:
        if self._opened:
            await self._pool.close()
            self._opened = False

    async def write_history(self, entries: Sequence[bytes | str]) -> None:
        """Upsert HealthHistoryEntry documents, JSON-encoded as on the health-history topic."""
        if entries:
            documents = "[" + ",".join(e.decode() if isinstance(e, bytes) else e for e in entries) + "]"
            await self._retrying("history", lambda: self._execute(UPSERT_HISTORY, (documents,)))
            HISTORY_ROWS.inc(len(entries))

    async def write_transitions(self, transitions: Sequence[bytes | str]) -> None:
        """Upsert BreakerTransition documents, JSON-encoded as on the breaker-transitions topic."""
        if transitions:
            documents = "[" + ",".join(t.decode() if isinstance(t, bytes) else t for t in transitions) + "]"
            await self._retrying("transitions", lambda: self._execute(UPSERT_TRANSITIONS, (documents,)))
            TRANSITION_ROWS.inc(len(transitions))

    async def write_configs(self, results: Sequence[dict]) -> None:
        rows = [config_row(r) for r in results
                if r.get("type") in _LIVE_CONFIG_COMMANDS and r.get("ok") and "result" in r]
        if rows:
            await self._retrying("config", lambda: self._executemany(UPSERT_CONFIG, rows))

    async def delete_expired_history(self, older_than: datetime) -> int:
        cutoff = naive_utc(older_than)

        async def delete() -> int:
            # Transitions are kept as long as the history they explain.
            async with self._pool.connection() as conn:
                cur = await conn.execute(DELETE_EXPIRED_HISTORY, (cutoff,))
                deleted = cur.rowcount
                cur = await conn.execute(DELETE_EXPIRED_TRANSITIONS, (cutoff,))
                return deleted + cur.rowcount

        return await self._retrying("retention", delete)

    async def write_rollups(self, values: Sequence[dict]) -> None:
        """Closed minutes and corrections, with their hour and day rows (rollup_store), in one transaction."""
        if values:
            await self._retrying("rollups", lambda: self._in_transaction(rollup_store.write_rollups, values))
            ROLLUP_ROWS.inc(len(values))

    async def write_live_rollups(self, rows: Sequence[tuple]) -> None:
        if rows:
            await self._retrying("live-rollups", lambda: self._in_transaction(rollup_store.upsert_live, rows))

    async def delete_expired_rollups(self, minutes_before: datetime, hours_before: datetime) -> int:
        return await self._retrying("rollup-retention", lambda: self._in_transaction(
            rollup_store.delete_expired, minutes_before, hours_before))

    async def _in_transaction(self, work, *args):
        async with self._pool.connection() as conn:  # commits when the block ends without an error
            return await work(conn, *args)

    async def _execute(self, sql: str, params: tuple) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(sql, params)

    async def _executemany(self, sql: str, rows: list[tuple]) -> None:
        async with self._pool.connection() as conn:
            async with conn.cursor() as cur:
                await cur.executemany(sql, rows)

    async def _retrying(self, sink: str, attempt: Callable[[], Awaitable]):
        await self.open()
        delay = self._retry_initial_s
        while True:
            try:
                return await attempt()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # PostgreSQL down or restarting: wait and try again
                SINK_ERRORS.labels(sink).inc()
                logger.warning("%s sink write failed (%s); retrying in %.1fs", sink, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max_s)
