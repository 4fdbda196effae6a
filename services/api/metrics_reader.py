"""Where `GET /{service}/metrics` gets its OperationMetrics: a small interface the metric-rollups work implements.

A reader answers `data` of OperationMetrics (requestCount, successCount, failureCount, avgResponseTime,
p95ResponseTime, p99ResponseTime) for one service and timeframe, or raises MetricsUnavailable. The gateway wraps
whichever reader is wired in app.py with a 5-second cache (Redis when configured, in process otherwise).
"""
from __future__ import annotations

import logging
import time
from typing import Protocol

import psycopg

from fusebox.api.storage import Database
from fusebox.core import codec

logger = logging.getLogger("fusebox.api.metrics_reader")

ROLLUPS_TABLE = "metric_rollups"


class MetricsUnavailable(Exception):
    """No source of operation metrics can answer now (503 DEPENDENCY_UNAVAILABLE)."""


class MetricsReader(Protocol):
    async def read(self, service: str, timeframe: str) -> dict: ...


class RollupTableMetricsReader:
    """Answers from the `metric_rollups` table once its migration exists; until then, MetricsUnavailable.

    Merging the rollups' latency sketches into p95/p99 belongs to the metric-rollups work, which replaces
    `_query` with the real aggregation over its table; the gateway never approximates percentiles itself.
    """

    def __init__(self, db: Database):
        self.db = db

    async def read(self, service: str, timeframe: str) -> dict:
        async def table_exists(conn: psycopg.AsyncConnection) -> bool:
            cursor = await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (ROLLUPS_TABLE,))
            row = await cursor.fetchone()
            return bool(row and row[0])

        if not await self.db.run(table_exists):
            raise MetricsUnavailable("operation metrics are not available yet: no metric rollups table")
        return await self._query(service, timeframe)

    async def _query(self, service: str, timeframe: str) -> dict:
        raise MetricsUnavailable("operation metrics are not available yet: the rollup reader is not wired")


class CachedMetricsReader:
    """A `ttl_s` cache in front of a reader: in Redis when given (shared by replicas), else in process."""

    def __init__(self, reader: MetricsReader, ttl_s: float, redis=None, namespace: str = "fusebox:"):
        self.reader = reader
        self.ttl_s = ttl_s
        self.redis = redis
        self.namespace = namespace
        self._local: dict[tuple[str, str], tuple[float, dict]] = {}

    async def read(self, service: str, timeframe: str) -> dict:
        key = f"{self.namespace}metrics:{timeframe}:{service}"
        cached = await self._get(key, (service, timeframe))
        if cached is not None:
            return cached
        value = await self.reader.read(service, timeframe)
        await self._put(key, (service, timeframe), value)
        return value

    async def _get(self, key: str, local_key: tuple[str, str]) -> dict | None:
        if self.redis is not None:
            try:
                raw = await self.redis.get(key)
                return codec.loads(raw) if raw is not None else None
            except Exception as exc:
                logger.warning("metrics cache read from Redis failed: %r", exc)
        entry = self._local.get(local_key)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        return None

    async def _put(self, key: str, local_key: tuple[str, str], value: dict) -> None:
        if self.redis is not None:
            try:
                await self.redis.set(key, codec.dumps(value), px=int(self.ttl_s * 1000))
                return
            except Exception as exc:
                logger.warning("metrics cache write to Redis failed: %r", exc)
        self._local[local_key] = (time.monotonic() + self.ttl_s, value)
