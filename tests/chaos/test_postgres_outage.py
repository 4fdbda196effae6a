"""PostgreSQL stopped mid-stream: breaker state keeps moving, and afterwards no history or rollup row is
missing or duplicated (checked against the topics the sinks mirror and against `fusebox replay`)."""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import psycopg

from fusebox.core.codec import loads
from tests.chaos.support import Figures, Profile, Stopwatch
from tests.harness import Stack
from tests.integration.aggregator.support import Producer, Worker, latest_states, outcome, read_topic, wait_for
from tests.integration.aggregator.test_replay_and_history import configure, replay

ROUND_MS = 5000  # event time covered by one round of incidents
ROUND_EVERY_S = 0.5  # wall time between rounds


def incident_round(services: list[str], t: int) -> list[dict]:
    """Each service opens (3 failures, threshold 3), fails once while open, then recovers after its timeout."""
    events = []
    for service in services:
        events += [outcome(service, "failure", ts=t + i) for i in range(3)]
        events += [outcome(service, "failure", ts=t + 200)]
        events += [outcome(service, "success", ts=t + 1200)]
        events += [outcome(service, "success", ts=t + 1300 + i, latency=float(i + 1)) for i in range(5)]
    return events


def sql(database_url: str, query: str) -> list[tuple]:
    with psycopg.connect(database_url, connect_timeout=3) as conn:
        return conn.execute(query).fetchall()


def history_keys(database_url: str) -> list[tuple[str, int]]:
    return [(r[0], r[1]) for r in sql(database_url, "SELECT service_name, seq FROM circuit_breaker_history "
                                                    "ORDER BY service_name, seq")]


def minute_rows(database_url: str) -> dict[tuple, tuple]:
    rows = sql(database_url, "SELECT service_name, (extract(epoch FROM bucket_start) * 1000)::bigint, part, "
                             "request_count, success_count, failure_count, rejected_count "
                             "FROM metric_rollups WHERE resolution = 'minute'")
    return {(r[0], r[1], r[2]): r[3:] for r in rows}


def merged_hours_differ(database_url: str) -> list[tuple]:
    """(service, hour) whose part-0 hour row does not hold exactly the sum of its merged part-0 minutes."""
    return sql(database_url, """
        SELECT h.service_name, h.bucket_start, h.request_count, sum(m.request_count)
        FROM metric_rollups h
        JOIN metric_rollups m ON m.service_name = h.service_name AND m.resolution = 'minute' AND m.part = 0
             AND m.bucket_start >= h.bucket_start AND m.bucket_start <= h.merged_through
        WHERE h.resolution = 'hour' AND h.part = 0
        GROUP BY h.service_name, h.bucket_start, h.request_count
        HAVING h.request_count <> sum(m.request_count)""")


def requests_in_rollups(database_url: str) -> dict[str, int]:
    """Calls per service over the closed minutes and the live (open) buckets not yet closed."""
    rows = sql(database_url, """
        SELECT service_name, sum(request_count) FROM (
            SELECT service_name, request_count FROM metric_rollups WHERE resolution = 'minute'
            UNION ALL
            SELECT l.service_name, l.request_count FROM metric_rollups_live l
            WHERE NOT EXISTS (SELECT 1 FROM metric_rollups r WHERE r.resolution = 'minute'
                              AND r.service_name = l.service_name AND r.bucket_start = l.bucket_start
                              AND r.part = l.part)) AS buckets
        GROUP BY service_name""")
    return {r[0]: int(r[1]) for r in rows}


async def published(stack: Stack, prefix: str, suffix: str) -> list[dict]:
    return [loads(r.value) for r in await read_topic(stack, prefix + suffix) if r.value is not None]


async def test_postgres_stopped_mid_stream_loses_and_duplicates_no_row(
        stack: Stack, topics: str, database_url: str, tmp_path: Path, profile: Profile, figures: Figures) -> None:
    services = [f"pgout-{i}" for i in range(profile.pg_services)]
    start = int(time.time() * 1000) + 600_000  # event times ahead of the wall clock: no ticks interfere
    worker = Worker(stack, topics, database_url, tmp_path, FUSEBOX_ROLLUP_LIVE_INTERVAL_MS="300").start()
    t = start + 10
    rounds = 0
    try:
        async with Producer(stack, topics) as producer:
            await configure(stack, producer, services, start, worker)

            async def stream_for(seconds: float) -> None:
                nonlocal t, rounds
                clock = Stopwatch()
                while clock() < seconds:
                    await producer.outcomes(incident_round(services, t))
                    t, rounds = t + ROUND_MS, rounds + 1
                    await asyncio.sleep(ROUND_EVERY_S)

            # Given incidents streaming and their history reaching PostgreSQL
            await stream_for(4)
            await wait_for(lambda: _rows_exist(database_url), 60, "history rows before the outage", worker=worker)

            # When PostgreSQL stops for a while mid-stream
            versions_before = {s: st["version"] for s, st in (await latest_states(stack, topics)).items()}
            await asyncio.to_thread(stack.stop_postgres)
            outage = Stopwatch()
            try:
                await stream_for(profile.pg_down_s)
                # Then breaker state kept moving on breaker-states meanwhile
                states_during = await latest_states(stack, topics)
            finally:
                await asyncio.to_thread(stack.start_postgres)
            down_s = outage()
            moved = {s: states_during[s]["version"] - versions_before.get(s, 0) for s in services}
            assert all(step > 0 for step in moved.values()), moved
            await stream_for(4)
            # the last minute of every service closes
            await producer.outcomes([outcome(s, "success", ts=t + 70_000) for s in services])

        # And once it is back, PostgreSQL holds every history entry and every closed minute exactly once
        caught_up = Stopwatch()

        async def sinks_caught_up() -> bool:
            try:
                history = history_keys(database_url)
                minutes = minute_rows(database_url)
                in_rollups = requests_in_rollups(database_url)
            except psycopg.OperationalError:
                return False
            entries = await published(stack, topics, "health-history")
            closed = await published(stack, topics, "metric-rollups")
            states = await latest_states(stack, topics)
            return (sorted({(e["service"], e["seq"]) for e in entries}) == history
                    and {(m["service"], m["bucketStart"], m["part"]) for m in closed} == set(minutes)
                    and all(in_rollups.get(s) == states[s]["operations"]["total"] for s in services))

        await wait_for(sinks_caught_up, 180, "the sinks to catch up after the outage", every=1.0, worker=worker)
        caught_up_s = caught_up()
        history = history_keys(database_url)
        assert len(history) == len(set(history))
        for service in services:
            seqs = [seq for name, seq in history if name == service]
            assert seqs == list(range(1, len(seqs) + 1)), (service, seqs)
        closed = await published(stack, topics, "metric-rollups")
        minutes = minute_rows(database_url)
        for m in closed:
            assert minutes[(m["service"], m["bucketStart"], m["part"])] == (
                m["requestCount"], m["successCount"], m["failureCount"], m["rejectedCount"])
        assert merged_hours_differ(database_url) == []
        per_service = Counter(name for name, _ in history)

        # And a replay of the topics rebuilds the same states and history
        result = await asyncio.to_thread(replay, worker)
        assert result.returncode == 0, result.stdout + result.stderr
        assert worker.process.poll() is None, worker.log()
        figures.record("PostgreSQL stopped", services=len(services), rounds=rounds, pg_down_s=down_s,
                       state_versions_during_outage=sum(moved.values()), history_rows=len(history),
                       history_rows_per_service=min(per_service.values()), minute_rows=len(minutes),
                       caught_up_s=caught_up_s, replay="MATCH")
    finally:
        worker.stop()


async def _rows_exist(database_url: str) -> bool:
    try:
        return bool(history_keys(database_url))
    except psycopg.OperationalError:
        return False
