"""Where `GET /{service}/metrics` gets its OperationMetrics: a small interface the metric-rollups work implements.

A reader answers `data` of OperationMetrics (requestCount, successCount, failureCount, avgResponseTime,
p95ResponseTime, p99ResponseTime) for one service and timeframe, or raises MetricsUnavailable. The gateway wraps
whichever reader is wired in app.py with a 5-second cache (Redis when configured, in process otherwise).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Protocol

import psycopg

from fusebox.core.isotime import datetime_of_ms, iso_datetime
from fusebox.api.storage import Database
from fusebox.core import codec
from fusebox.core.sketches import MergedMetrics

logger = logging.getLogger("fusebox.api.metrics_reader")

ROLLUPS_TABLE = "metric_rollups"

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
# timeframe -> (resolution, bucket size, buckets in the window, the current partial one included)
WINDOWS = {"1h": ("minute", MINUTE_MS, 60), "24h": ("minute", MINUTE_MS, 1440),
           "7d": ("hour", HOUR_MS, 168), "30d": ("hour", HOUR_MS, 720)}

_VALUES = "request_count, success_count, failure_count, latency_sum_ms, zero_count, bin_offset, bins"
_SERIES_COLUMNS = "bucket_start, rejected_count, "

QUARTER_HOUR_MS = 15 * MINUTE_MS
# timeframe -> (rows read, bucket size, buckets in the window, the current partial one included)
SERIES_WINDOWS = {"1h": ("minute", MINUTE_MS, 60), "24h": ("minute", QUARTER_HOUR_MS, 96),
                  "7d": ("hour", HOUR_MS, 168), "30d": ("day", DAY_MS, 30)}


class MetricsUnavailable(Exception):
    """No source of operation metrics can answer now (503 DEPENDENCY_UNAVAILABLE)."""


class MetricsReader(Protocol):
    async def read(self, service: str, timeframe: str) -> dict: ...

    async def read_series(self, service: str, timeframe: str) -> dict: ...


def window(timeframe: str, now_ms: int) -> tuple[int, int, list[tuple[str, int, int]]]:
    """The window [start, end) of a timeframe, bucket-aligned, and the stored rows that cover it.

    The window is the last N buckets of the timeframe's resolution up to and including the current,
    partial one: 1h = 60 minutes, 24h = 1440 minutes, 7d = 168 hours, 30d = 720 hours. For 7d and
    30d, whole UTC days inside the window are read from day rows (each the exact sum of its hours).
    Returns (start, end, [(resolution, from, to), ...]) in epoch ms.
    """
    resolution, size, count = WINDOWS[timeframe]
    end = now_ms - now_ms % size + size
    start = end - count * size
    if resolution == "minute":
        return start, end, [("minute", start, end)]
    first_day = -(-start // DAY_MS) * DAY_MS
    last_day = end - end % DAY_MS
    if first_day >= last_day:
        return start, end, [("hour", start, end)]
    ranges = [("day", first_day, last_day)]
    ranges += [("hour", lo, hi) for lo, hi in ((start, first_day), (last_day, end)) if lo < hi]
    return start, end, ranges


def series_window(timeframe: str, now_ms: int) -> tuple[int, int, int, list[tuple[str, int, int]]]:
    """(start, end, bucket size, rows to read) of a timeframe's series: whole buckets, the current one last.

    Each bucket is read from rows of its own size or smaller (minutes for 1 min and 15 min buckets, hour rows for
    hours, day rows for days), so a row never straddles two buckets.
    """
    resolution, size, count = SERIES_WINDOWS[timeframe]
    end = now_ms - now_ms % size + size
    start = end - count * size
    return start, end, size, [(resolution, start, end)]


def window_query(ranges: list[tuple[str, int, int]], start: int, end: int, one_service: bool,
                 *, per_bucket: bool = False) -> tuple[str, dict]:
    """One SQL statement: the window's stored rows plus the live (open) buckets not yet closed.

    `per_bucket` also selects each row's bucket_start and rejected_count (for series).
    """
    params: dict = {"start": datetime_of_ms(start), "end": datetime_of_ms(end)}
    service = "service_name = %(service)s AND " if one_service else ""
    conditions = []
    for index, (resolution, lo, hi) in enumerate(ranges):
        params[f"r{index}"], params[f"lo{index}"], params[f"hi{index}"] = resolution, datetime_of_ms(lo), datetime_of_ms(hi)
        conditions.append(f"(resolution = %(r{index})s AND bucket_start >= %(lo{index})s AND bucket_start < %(hi{index})s)")
    values = f"{_SERIES_COLUMNS}{_VALUES}" if per_bucket else _VALUES
    sql = (f"SELECT service_name, {values} FROM metric_rollups WHERE {service}({' OR '.join(conditions)})"
           f" UNION ALL"
           f" SELECT service_name, {values} FROM metric_rollups_live l WHERE {service}"
           f" bucket_start >= %(start)s AND bucket_start < %(end)s AND NOT EXISTS ("
           f"SELECT 1 FROM metric_rollups r WHERE r.service_name = l.service_name AND r.resolution = 'minute'"
           f" AND r.bucket_start = l.bucket_start AND r.part = l.part)")
    return sql, params


class RollupTableMetricsReader:
    """OperationMetrics merged from the `metric_rollups` rows of the window and the live buckets.

    Counts and latency sums add up exactly; p95/p99 come from the merged DDSketch histograms
    (fusebox.core.sketches), never from averaged percentiles. One query per call, also for the fleet.
    """

    def __init__(self, db: Database, clock: Callable[[], float] = time.time):
        self.db = db
        self.clock = clock

    async def read(self, service: str, timeframe: str) -> dict:
        merged = await self._merged(timeframe, service)
        return merged.get(service, MergedMetrics()).operation_metrics()

    async def read_fleet(self, timeframe: str, services: Iterable[str]) -> dict[str, dict]:
        merged = await self._merged(timeframe, None)
        return {service: merged.get(service, MergedMetrics()).operation_metrics() for service in services}

    async def read_series(self, service: str, timeframe: str) -> dict:
        """Every bucket of the timeframe, oldest first, zero-filled; each merged from its own rows."""
        start, end, size, ranges = series_window(timeframe, int(self.clock() * 1000))
        sql, params = window_query(ranges, start, end, True, per_bucket=True)
        params["service"] = service

        async def select(conn: psycopg.AsyncConnection) -> list[tuple]:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchall()

        count = (end - start) // size
        buckets = [MergedMetrics() for _ in range(count)]
        rejected = [0] * count
        for _, bucket_start, rejections, *values in await self.db.run(select):
            index = (int(bucket_start.timestamp() * 1000) - start) // size
            buckets[index].add(*values)
            rejected[index] += rejections
        return {"service": service, "timeframe": timeframe, "bucketMs": size,
                "from": iso_datetime(datetime_of_ms(start)), "to": iso_datetime(datetime_of_ms(end)),
                "buckets": [_series_bucket(start + index * size, merged, rejected[index])
                            for index, merged in enumerate(buckets)]}

    async def _merged(self, timeframe: str, service: str | None) -> dict[str, MergedMetrics]:
        start, end, ranges = window(timeframe, int(self.clock() * 1000))
        sql, params = window_query(ranges, start, end, service is not None)
        params["service"] = service

        async def select(conn: psycopg.AsyncConnection) -> list[tuple]:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchall()

        merged: dict[str, MergedMetrics] = {}
        for name, requests, successes, failures, latency_sum, zero, offset, bins in await self.db.run(select):
            total = merged.get(name)
            if total is None:
                total = merged[name] = MergedMetrics()
            total.add(requests, successes, failures, latency_sum, zero, offset, bins)
        return merged


def _series_bucket(start_ms: int, merged: MergedMetrics, rejected: int) -> dict:
    metrics = merged.operation_metrics()
    called = merged.requests > 0
    return {"start": iso_datetime(datetime_of_ms(start_ms)), "requestCount": metrics["requestCount"],
            "successCount": metrics["successCount"], "failureCount": metrics["failureCount"], "rejectedCount": rejected,
            "avgResponseTime": metrics["avgResponseTime"] if called else None,
            "p95ResponseTime": metrics["p95ResponseTime"] if called else None,
            "p99ResponseTime": metrics["p99ResponseTime"] if called else None}


class CachedMetricsReader:
    """A `ttl_s` cache in front of a reader: in Redis when given (shared by replicas), else in process."""

    def __init__(self, reader: MetricsReader, ttl_s: float, redis=None, namespace: str = "fusebox:"):
        self.reader = reader
        self.ttl_s = ttl_s
        self.redis = redis
        self.namespace = namespace
        self._local: dict[tuple[str, ...], tuple[float, dict]] = {}

    async def read(self, service: str, timeframe: str) -> dict:
        key = f"{self.namespace}metrics:{timeframe}:{service}"
        cached = await self._get(key, (service, timeframe))
        if cached is not None:
            return cached
        value = await self.reader.read(service, timeframe)
        await self._put(key, (service, timeframe), value)
        return value

    async def read_series(self, service: str, timeframe: str) -> dict:
        key = f"{self.namespace}metrics-series:{timeframe}:{service}"
        local_key = ("series", service, timeframe)
        cached = await self._get(key, local_key)
        if cached is not None:
            return cached
        if not hasattr(self.reader, "read_series"):
            raise MetricsUnavailable("this gateway's metrics reader has no time series")
        value = await self.reader.read_series(service, timeframe)
        await self._put(key, local_key, value)
        return value

    async def read_fleet(self, timeframe: str, services: Iterable[str]) -> dict[str, dict]:
        """Every service's metrics in one reader call; cached as a whole (`*` is not a service name)."""
        services = sorted(services)
        key = f"{self.namespace}metrics:{timeframe}:*"
        cached = await self._get(key, ("*", timeframe))
        if cached is not None and all(service in cached for service in services):
            return {service: cached[service] for service in services}
        if hasattr(self.reader, "read_fleet"):
            value = await self.reader.read_fleet(timeframe, services)
        else:  # a reader of one service at a time
            value = {service: await self.reader.read(service, timeframe) for service in services}
        await self._put(key, ("*", timeframe), value)
        return value

    async def _get(self, key: str, local_key: tuple[str, ...]) -> dict | None:
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

    async def _put(self, key: str, local_key: tuple[str, ...], value: dict) -> None:
        if self.redis is not None:
            try:
                await self.redis.set(key, codec.dumps(value), px=int(self.ttl_s * 1000))
                return
            except Exception as exc:
                logger.warning("metrics cache write to Redis failed: %r", exc)
        self._local[local_key] = (time.monotonic() + self.ttl_s, value)
