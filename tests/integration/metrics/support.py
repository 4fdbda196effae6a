"""Helpers of the metrics tests: exact percentiles, window arithmetic, rollup rows in PostgreSQL."""
from __future__ import annotations

import math

import psycopg

MINUTE_MS, HOUR_MS = 60_000, 3_600_000
# timeframe -> (bucket size, buckets), counting the current partial bucket: docs/metrics.md
WINDOWS = {"1h": (MINUTE_MS, 60), "24h": (MINUTE_MS, 1440), "7d": (HOUR_MS, 168), "30d": (HOUR_MS, 720)}


def exact_at_rank(values: list[float], q: float) -> float:
    """The exact latency at rank q × (n − 1), rounded down: the order statistic DDSketch approximates."""
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


def window_start(timeframe: str, now_ms: int) -> int:
    size, count = WINDOWS[timeframe]
    return now_ms - now_ms % size + size - count * size


def near_a_boundary(ts: int, now_ms: int) -> bool:
    """True when a test run of a few minutes could move a window's start across `ts` (minute windows
    move by a minute, hour windows by an hour)."""
    return any(abs(ts - window_start(tf, now_ms)) < (5 * MINUTE_MS if size == MINUTE_MS else 2 * HOUR_MS)
               for tf, (size, _) in WINDOWS.items())


def stored_requests(database_url: str) -> int:
    """Calls counted in closed minutes plus open (live) buckets not yet closed."""
    with psycopg.connect(database_url) as conn:
        closed = conn.execute("SELECT coalesce(sum(request_count), 0) FROM metric_rollups"
                              " WHERE resolution = 'minute'").fetchone()[0]
        live = conn.execute(
            "SELECT coalesce(sum(request_count), 0) FROM metric_rollups_live l WHERE NOT EXISTS ("
            "SELECT 1 FROM metric_rollups r WHERE r.resolution = 'minute' AND r.service_name = l.service_name"
            " AND r.bucket_start = l.bucket_start AND r.part = l.part)").fetchone()[0]
    return int(closed) + int(live)


def rollup_rows(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT service_name, resolution, bucket_start, part, request_count, success_count, failure_count,"
            " rejected_count, latency_sum_ms, zero_count, bin_offset, bins, merged_through FROM metric_rollups"
            " ORDER BY 1, 2, 3, 4").fetchall()
