"""Metric rollups in PostgreSQL: closed minutes, hour and day rows merged from them, live buckets, retention.

Idempotent under redelivery and replay (docs/metrics.md):
- a minute row (service, minute, part) is immutable: inserted once, a repeat does nothing;
- hour and day part 0 merge part-0 minutes in order, remembering the last one merged
  (`merged_through`), so a minute seen again is skipped; the fold emits a service's part-0
  minutes in increasing order and one partition carries them in that order;
- a correction (part k, unique per service) is copied to its hour and day as part k.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np
import psycopg

from fusebox.core.isotime import datetime_of_ms
from fusebox.core.sketches import BIN_DTYPE, MergedMetrics, bins_to_bytes, sketch_bins

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
COARSE = (("hour", HOUR_MS), ("day", DAY_MS))

COLUMNS = ("service_name, resolution, bucket_start, part, request_count, success_count, failure_count, "
           "rejected_count, latency_sum_ms, zero_count, bin_offset, bins, merged_through")

INSERT_ROW = f"""
INSERT INTO metric_rollups ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (service_name, resolution, bucket_start, part) DO NOTHING
"""

UPSERT_MERGED = f"""
INSERT INTO metric_rollups ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (service_name, resolution, bucket_start, part) DO UPDATE SET
    request_count = EXCLUDED.request_count, success_count = EXCLUDED.success_count,
    failure_count = EXCLUDED.failure_count, rejected_count = EXCLUDED.rejected_count,
    latency_sum_ms = EXCLUDED.latency_sum_ms, zero_count = EXCLUDED.zero_count,
    bin_offset = EXCLUDED.bin_offset, bins = EXCLUDED.bins, merged_through = EXCLUDED.merged_through
"""

SELECT_MERGED = """
SELECT r.service_name, r.resolution, r.bucket_start, r.request_count, r.success_count, r.failure_count,
       r.rejected_count, r.latency_sum_ms, r.zero_count, r.bin_offset, r.bins, r.merged_through
FROM metric_rollups r
JOIN unnest(%s::text[], %s::text[], %s::timestamptz[]) AS k(service_name, resolution, bucket_start)
  ON r.service_name = k.service_name AND r.resolution = k.resolution AND r.bucket_start = k.bucket_start
WHERE r.part = 0
FOR UPDATE OF r
"""

DELETE_LIVE_CLOSED = """
DELETE FROM metric_rollups_live l
USING unnest(%s::text[], %s::timestamptz[], %s::int[]) AS k(service_name, bucket_start, part)
WHERE l.service_name = k.service_name AND l.bucket_start = k.bucket_start AND l.part = k.part
"""

LIVE_COLUMNS = ("service_name, bucket_start, part, request_count, success_count, failure_count, rejected_count, "
                "latency_sum_ms, zero_count, bin_offset, bins")
UPSERT_LIVE = f"""
INSERT INTO metric_rollups_live ({LIVE_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (service_name, bucket_start, part) DO UPDATE SET
    request_count = EXCLUDED.request_count, success_count = EXCLUDED.success_count,
    failure_count = EXCLUDED.failure_count, rejected_count = EXCLUDED.rejected_count,
    latency_sum_ms = EXCLUDED.latency_sum_ms, zero_count = EXCLUDED.zero_count,
    bin_offset = EXCLUDED.bin_offset, bins = EXCLUDED.bins, updated_at = now()
"""

DELETE_EXPIRED = [
    "DELETE FROM metric_rollups WHERE resolution = 'minute' AND bucket_start < %(minutes)s",
    "DELETE FROM metric_rollups WHERE resolution IN ('hour', 'day') AND bucket_start < %(hours)s",
    "DELETE FROM metric_rollups_live WHERE bucket_start < %(hours)s",
    # live rows whose closed row has been written (a live write that raced the close)
    """DELETE FROM metric_rollups_live l USING metric_rollups r
       WHERE r.resolution = 'minute' AND r.service_name = l.service_name AND r.bucket_start = l.bucket_start
         AND r.part = l.part""",
]


def epoch_ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


def minute_row(value: dict) -> tuple:
    offset, counts, zero = sketch_bins(value["sketch"])
    return (value["service"], "minute", datetime_of_ms(value["bucketStart"]), value["part"], value["requestCount"],
            value["successCount"], value["failureCount"], value["rejectedCount"], value["latencySumMs"], zero,
            offset, bins_to_bytes(counts), None)


def live_row(service: str, value: dict) -> tuple:
    offset, counts, zero = sketch_bins(value["sketch"])
    return (service, datetime_of_ms(value["bucketStart"]), value["part"], value["requestCount"], value["successCount"],
            value["failureCount"], value["rejectedCount"], value["latencySumMs"], zero, offset,
            bins_to_bytes(counts))


def _merge(existing: tuple | None, minutes: list[dict]) -> tuple | None:
    """The part-0 coarse row after adding the minutes later than its watermark, or None if unchanged."""
    total, rejected, through = MergedMetrics(), 0, -1
    if existing is not None:
        (_s, _r, _b, requests, successes, failures, rejected, latency_sum, zero, offset, bins, merged) = existing
        total.add(requests, successes, failures, latency_sum, zero, offset, bytes(bins))
        through = epoch_ms(merged)
    changed = False
    for value in sorted(minutes, key=lambda v: v["bucketStart"]):
        if value["bucketStart"] <= through:
            continue  # already merged: a redelivery
        offset, counts, zero = sketch_bins(value["sketch"])
        total.add(value["requestCount"], value["successCount"], value["failureCount"], value["latencySumMs"],
                  zero, offset, np.asarray(counts, dtype=BIN_DTYPE))
        rejected += value["rejectedCount"]
        through = value["bucketStart"]
        changed = True
    if not changed:
        return None
    low, bins = total.histogram()
    return (total.requests, total.successes, total.failures, rejected, total.latency_sum, total.zero,
            low, bins.astype("<i8").tobytes(), datetime_of_ms(through))


async def write_rollups(conn: psycopg.AsyncConnection, values: Sequence[dict]) -> None:
    """Store closed minutes and corrections, and fold them into their hour and day rows (one transaction)."""
    async with conn.cursor() as cur:
        await cur.executemany(INSERT_ROW, [minute_row(v) for v in values])
        copies, on_time = [], {}
        for v in values:
            for resolution, size in COARSE:
                start = v["bucketStart"] - v["bucketStart"] % size
                if v["part"]:
                    copies.append((v["service"], resolution, datetime_of_ms(start)) + minute_row(v)[3:])
                else:
                    on_time.setdefault((v["service"], resolution, start), []).append(v)
        if copies:
            await cur.executemany(INSERT_ROW, copies)
        if on_time:
            keys = list(on_time)
            await cur.execute(SELECT_MERGED, ([k[0] for k in keys], [k[1] for k in keys], [datetime_of_ms(k[2]) for k in keys]))
            existing = {(row[0], row[1], epoch_ms(row[2])): row for row in await cur.fetchall()}
            upserts = []
            for key, minutes in on_time.items():
                merged = _merge(existing.get(key), minutes)
                if merged is not None:
                    upserts.append((key[0], key[1], datetime_of_ms(key[2]), 0) + merged)
            if upserts:
                await cur.executemany(UPSERT_MERGED, upserts)
        await cur.execute(DELETE_LIVE_CLOSED, ([v["service"] for v in values], [datetime_of_ms(v["bucketStart"]) for v in values],
                                               [v["part"] for v in values]))


async def upsert_live(conn: psycopg.AsyncConnection, rows: Iterable[tuple]) -> None:
    """Write the current snapshot of open buckets (see live_row).

    A live row is deleted only with the write of its closed row (write_rollups), so a bucket is
    never missing from both tables; a snapshot that lands after its closed row is shadowed by it
    in queries and removed by retention.
    """
    rows = list(rows)
    if rows:
        async with conn.cursor() as cur:
            await cur.executemany(UPSERT_LIVE, rows)


async def delete_expired(conn: psycopg.AsyncConnection, minutes_before: datetime, hours_before: datetime) -> int:
    deleted = 0
    for sql in DELETE_EXPIRED:
        params = {"minutes": minutes_before, "hours": hours_before} if "%(" in sql else None
        cur = await conn.execute(sql, params)
        deleted += cur.rowcount
    return deleted
