"""Metric rollups: their cost in the fold, and the latency of the metrics queries.

1. Sketch insert: ddsketch's DDSketch.add against the fold's dict of DDSketch-mapped bins.
2. Fold throughput with rollups on and off, on the same events in the same run (bench_fold's
   240,000 events of 1,000 services over 20 minutes, polls of 5,000), with and without the
   per-batch state record the aggregator writes to its table.
3. GET .../metrics?timeframe=30d over 1,000 services: one service and the fleet view, cold (no
   API cache; PostgreSQL's buffers warm) and cached (in process, and Redis). Starts its own
   PostgreSQL and Redis (tests.harness). The table holds what a 30-day window of 1,000 services
   reads — day rows for 31 days, hour rows for the two partial days, live buckets — with
   histograms of 120 bins (a lognormal latency spread at 1% accuracy).
"""
from __future__ import annotations

import asyncio
import math
import random
import statistics
import time
import uuid

import numpy as np
import orjson
import psycopg

from bench.bench_fold import REPRESENTATIVE_POLL, best_of, build_events, polls
from fusebox.core import breaker, rollups
from fusebox.core.codec import dumps
from fusebox.core.validation import decode_outcome
from fusebox.storage.schema import scoped_conninfo

SERVICES = 1_000
SCHEMA = "bench"
DAY_MS, HOUR_MS = 86_400_000, 3_600_000
BINS = 120


def sketch_insert_cost() -> None:
    from ddsketch import DDSketch

    rng = random.Random(1)
    values = [rng.lognormvariate(3, 0.6) for _ in range(300_000)]

    def with_ddsketch() -> None:
        sketch = DDSketch(rollups.ALPHA)
        for v in values:
            sketch.add(v)

    def with_bins() -> None:
        bucket = rollups._new_bucket(0)
        add = rollups.add
        for v in values:
            add(bucket, "success", v)

    t_dd, t_bins = best_of(3, with_ddsketch), best_of(3, with_bins)
    n = len(values)
    print(f"DDSketch.add                          {t_dd / n * 1e9:6.0f} ns/value")
    print(f"rollups.add (counts + dict bins)      {t_bins / n * 1e9:6.0f} ns/value   "
          f"({t_dd / t_bins:.2f}x faster, and it also counts outcomes and sums latency)")


def fold_cost() -> None:
    decoded = [decode_outcome(b) for b in build_events()]
    grouped = polls(decoded, REPRESENTATIVE_POLL)
    count = len(decoded)

    def fold_all(with_rollups: bool, store: bool) -> None:
        states: dict[str, breaker.BreakerState] = {}
        for poll in grouped:
            for service, events in poll:
                state = states.get(service) or breaker.new_state(service)
                states[service], _ = breaker.fold_batch(state, events, with_rollups)
                if store:
                    dumps(breaker.state_to_record(states[service]))

    for store in (False, True):
        t_off = best_of(3, lambda: fold_all(False, store))
        t_on = best_of(3, lambda: fold_all(True, store))
        label = "fold + state record" if store else "fold_batch only    "
        print(f"{label}  rollups off {count / t_off:>10,.0f} events/s   on {count / t_on:>10,.0f} events/s   "
              f"on/off throughput {t_off / t_on:.2f}  ({(t_on - t_off) / count * 1e9:.0f} ns/event more)")


def populate(database_url: str, now_ms: int) -> int:
    rng = np.random.default_rng(5)
    hour = now_ms - now_ms % HOUR_MS
    end = hour + HOUR_MS
    start = end - 720 * HOUR_MS
    first_day = -(-start // DAY_MS) * DAY_MS
    last_day = end - end % DAY_MS
    buckets = [("day", d) for d in range(first_day - DAY_MS, last_day, DAY_MS)]
    buckets += [("hour", h) for h in range(first_day - DAY_MS, first_day, HOUR_MS)]
    buckets += [("hour", h) for h in range(last_day, end, HOUR_MS)]
    rows = 0
    with psycopg.connect(scoped_conninfo(database_url, SCHEMA)) as conn:
        with conn.cursor().copy(
                "COPY metric_rollups (service_name, resolution, bucket_start, part, request_count, success_count,"
                " failure_count, rejected_count, latency_sum_ms, zero_count, bin_offset, bins, merged_through)"
                " FROM STDIN") as copy:
            for i in range(SERVICES):
                service = f"svc-{i:04d}.bench"
                for resolution, bucket in buckets:
                    counts = rng.integers(0, 50, BINS, dtype="<i8")
                    requests = int(counts.sum())
                    copy.write_row((service, resolution, rollups_utc(bucket), 0, requests, requests - requests // 50,
                                    requests // 50, 0, requests * 25.0, 0, 150, counts.tobytes(),
                                    rollups_utc(bucket)))
                    rows += 1
        with conn.cursor().copy("COPY metric_rollups_live (service_name, bucket_start, part, request_count,"
                                " success_count, failure_count, rejected_count, latency_sum_ms, zero_count,"
                                " bin_offset, bins) FROM STDIN") as copy:
            for i in range(SERVICES):
                counts = rng.integers(0, 5, BINS, dtype="<i8")
                copy.write_row((f"svc-{i:04d}.bench", rollups_utc(now_ms - now_ms % 60_000), 0, int(counts.sum()),
                                int(counts.sum()), 0, 0, counts.sum() * 25.0, 0, 150, counts.tobytes()))
                rows += 1
        conn.execute("ANALYZE metric_rollups")
        conn.execute("ANALYZE metric_rollups_live")
    return rows


def rollups_utc(ms: int):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


async def query_latency(database_url: str, redis_url: str) -> None:
    import redis.asyncio as redis_asyncio

    from fusebox.api.dependency_guard import DependencyBreaker
    from fusebox.api.metrics_reader import CachedMetricsReader, RollupTableMetricsReader
    from fusebox.api.storage import POSTGRES_FAILURES, Database, open_pool

    pool = open_pool(database_url, SCHEMA, 30)
    await pool.open(wait=True)
    db = Database(pool, DependencyBreaker("postgres", failure_types=POSTGRES_FAILURES), 30)
    reader = RollupTableMetricsReader(db)
    services = [f"svc-{i:04d}.bench" for i in range(SERVICES)]
    redis = redis_asyncio.from_url(redis_url)

    async def timed(label: str, call, rounds: int) -> None:
        await call()  # warm-up: connections, PostgreSQL buffers
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            await call()
            samples.append((time.perf_counter() - started) * 1000)
        samples.sort()
        p95 = samples[min(len(samples) - 1, math.ceil(0.95 * len(samples)) - 1)]
        print(f"{label:<44} median {statistics.median(samples):8.2f} ms   p95 {p95:8.2f} ms   ({rounds} calls)")

    try:
        rng = random.Random(2)
        await timed("30d, one service, cold (no API cache)", lambda: reader.read(rng.choice(services), "30d"), 50)
        await timed("30d, fleet of 1,000, cold (no API cache)", lambda: reader.read_fleet("30d", services), 5)
        for name, backend in (("in process", None), ("Redis", redis)):
            cached = CachedMetricsReader(reader, 5, backend, f"bench-{uuid.uuid4().hex[:6]}:")
            await timed(f"30d, one service, cached ({name})", lambda: cached.read("svc-0001.bench", "30d"), 200)
            await timed(f"30d, fleet of 1,000, cached ({name})", lambda: cached.read_fleet("30d", services), 50)
        one = await reader.read("svc-0001.bench", "30d")
        print(f"one answer: {orjson.dumps(one).decode()}")
    finally:
        await redis.aclose()
        await pool.close()


def run() -> None:
    sketch_insert_cost()
    fold_cost()
    from fusebox.storage.migrations import apply_migrations
    from tests.harness import start_stack

    stack = start_stack()
    try:
        name = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = stack.database_url.rsplit("/", 1)[0] + "/" + name
        apply_migrations(url, SCHEMA)
        started = time.perf_counter()
        rows = populate(url, int(time.time() * 1000))
        print(f"populated {rows:,} rollup rows for {SERVICES:,} services in {time.perf_counter() - started:.1f}s")
        asyncio.run(query_latency(url, stack.redis_url))
    finally:
        stack.close()


if __name__ == "__main__":
    run()
