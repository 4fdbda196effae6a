"""OperationMetrics end to end: outcomes on Kafka → aggregator → rollups in PostgreSQL → the API."""
from __future__ import annotations

import random
import time
from pathlib import Path

import aiohttp
import pytest

from tests.harness import Stack
from tests.integration.aggregator.support import Producer, Worker, outcome, wait_for
from tests.integration.api.support import BASE, admin_token, bearer, gateway_settings, running_gateway

from .support import MINUTE_MS, WINDOWS, exact_at_rank, near_a_boundary, rollup_rows, stored_requests, window_start

DAY_MS = 86_400_000


@pytest.fixture
def worker(stack: Stack, topics: str, database_url: str, tmp_path: Path):
    running = Worker(stack, topics, database_url, tmp_path, FUSEBOX_ROLLUP_LIVE_INTERVAL_MS="300").start()
    yield running
    running.stop()


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, dict]:
    async with http.get(url, headers=bearer(admin_token())) as response:
        return response.status, await response.json()


DISTRIBUTIONS = {
    "uniform": lambda rng: rng.uniform(1, 400),
    "lognormal": lambda rng: rng.lognormvariate(3.5, 0.8),
    "bimodal": lambda rng: max(0.1, rng.gauss(8, 1.5)) if rng.random() < 0.9 else rng.gauss(450, 60),
}


async def test_p95_and_p99_from_the_endpoint_are_within_2_percent_of_the_exact_percentiles(
        stack: Stack, topics: str, database_url: str, worker: Worker) -> None:
    # Given 30 services, ten per latency distribution, 1,000 calls each over the last 40 minutes
    rng = random.Random(6)
    now = int(time.time() * 1000)
    raw: dict[str, list[tuple[str, float]]] = {}
    events = []
    for i in range(30):
        name = sorted(DISTRIBUTIONS)[i % 3]
        service = f"{name}-{i}.svc"
        for n in range(1_000):
            latency = round(DISTRIBUTIONS[name](rng), 3)
            kind = "failure" if n % 13 == 0 else ("timeout" if n % 29 == 0 else "success")
            raw.setdefault(service, []).append((kind, latency))
            events.append((now - 40 * MINUTE_MS + n * 2_400, outcome(service, kind, latency=latency)))
    events.sort(key=lambda pair: pair[0])
    for ts, body in events:
        body["ts"] = ts
    # When they go through the aggregator
    async with Producer(stack, topics) as producer:
        await producer.outcomes(body for _, body in events)

    async def all_stored() -> bool:
        return stored_requests(database_url) == len(events)

    await wait_for(all_stored, 90, "every call in a rollup row", worker=worker)
    async with running_gateway(gateway_settings(stack, topics, database_url)) as gateway, \
            aiohttp.ClientSession() as http:
        await wait_for(lambda: _knows(gateway, raw), 30, "the gateway knows every service")
        status, fleet = await get(http, f"{gateway.url}{BASE}/metrics?timeframe=1h")
        assert status == 200 and fleet["timeframe"] == "1h"
        for service, calls in raw.items():
            status, body = await get(http, f"{gateway.url}{BASE}/{service}/metrics?timeframe=1h")
            assert status == 200 and body["timeframe"] == "1h"
            data = body["data"]
            latencies = [latency for _, latency in calls]
            # Then counts are exact, the average exact up to float summation, p95/p99 within 2%
            assert data["requestCount"] == len(calls)
            assert data["successCount"] == sum(1 for kind, _ in calls if kind == "success")
            assert data["failureCount"] == sum(1 for kind, _ in calls if kind != "success")
            assert data["avgResponseTime"] == pytest.approx(sum(latencies) / len(latencies), rel=1e-9)
            for q, key in ((0.95, "p95ResponseTime"), (0.99, "p99ResponseTime")):
                exact = exact_at_rank(latencies, q)
                assert abs(data[key] - exact) <= 0.02 * exact, (service, key, data[key], exact)
            # And the fleet view answers the same for every service
            assert fleet["services"][service] == data


async def _knows(gateway, services) -> bool:
    return all(service in gateway.view for service in services)


async def test_each_window_counts_exactly_the_events_inside_it_over_35_days(
        stack: Stack, topics: str, database_url: str, worker: Worker, tmp_path: Path) -> None:
    # Given 3,000 calls of two services with event times spread over the last 35 days, a few
    # produced late (after their minute closed), none where a window's start could move across them
    rng = random.Random(35)
    now = int(time.time() * 1000)
    times = []
    while len(times) < 3_000:
        ts = now - rng.randrange(0, 35 * DAY_MS) if len(times) % 10 else now - rng.randrange(0, 50 * MINUTE_MS)
        if not near_a_boundary(ts, now):
            times.append(ts)
    times.sort()
    late = set(rng.sample(range(len(times) - 50), 100))
    events = [outcome(f"windows-{i % 2}.svc", "success" if i % 5 else "failure", ts=ts, latency=10.0)
              for i, ts in enumerate(times)]
    ordered = [e for i, e in enumerate(events) if i not in late] + [events[i] for i in sorted(late)]
    async with Producer(stack, topics) as producer:
        await producer.outcomes(ordered)
    await wait_for(lambda: _stored(database_url, len(events)), 120, "every call in a rollup row", worker=worker)

    # When each timeframe is asked for, for each service and for the fleet
    async with running_gateway(gateway_settings(stack, topics, database_url)) as gateway, \
            aiohttp.ClientSession() as http:
        await wait_for(lambda: _knows(gateway, ["windows-0.svc", "windows-1.svc"]), 30, "the gateway's view")
        for timeframe in WINDOWS:
            asked_at = int(time.time() * 1000)
            start = window_start(timeframe, asked_at)
            status, fleet = await get(http, f"{gateway.url}{BASE}/metrics?timeframe={timeframe}")
            assert status == 200
            for service in ("windows-0.svc", "windows-1.svc"):
                inside = [e for e in events if e["service"] == service and e["ts"] >= start]
                status, body = await get(http, f"{gateway.url}{BASE}/{service}/metrics?timeframe={timeframe}")
                # Then exactly the events inside the window are counted
                assert status == 200
                assert body["data"]["requestCount"] == len(inside), timeframe
                assert body["data"]["failureCount"] == sum(e["outcome"] == "failure" for e in inside), timeframe
                assert fleet["services"][service] == body["data"]
    assert _corrections(database_url) > 0  # the late calls were counted as corrections (closed or pending)

    # And a second aggregator folding the same topics into a new database writes identical rows
    replay_db = _fresh_database(stack, topics)
    replayer = Worker(stack, topics, replay_db, tmp_path, app_id=f"{topics}replay").start()
    try:
        await wait_for(lambda: _stored(replay_db, len(events)), 120, "the replay's rollups", worker=replayer)
        await wait_for(lambda: _same_rows(database_url, replay_db), 30, "identical rollup rows", worker=replayer)
    finally:
        replayer.stop()


def _corrections(database_url: str) -> int:
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT (SELECT count(*) FROM metric_rollups WHERE part > 0)"
                            " + (SELECT count(*) FROM metric_rollups_live WHERE part > 0)").fetchone()[0]


async def _stored(database_url: str, count: int) -> bool:
    return stored_requests(database_url) == count


async def _same_rows(a: str, b: str) -> bool:
    return rollup_rows(a) == rollup_rows(b)


def _fresh_database(stack: Stack, prefix: str) -> str:
    from fusebox.storage.schema import schema_for_prefix
    from tests.harness import fresh_database

    return fresh_database(stack.database_url, schema_for_prefix(prefix))


async def test_an_invalid_timeframe_is_a_400_and_an_unknown_service_a_404(
        stack: Stack, topics: str, database_url: str) -> None:
    async with running_gateway(gateway_settings(stack, topics, database_url)) as gateway, \
            aiohttp.ClientSession() as http:
        status, body = await get(http, f"{gateway.url}{BASE}/metrics?timeframe=2h")
        assert (status, body["error"]["code"]) == (400, "VALIDATION_FAILED")
        status, body = await get(http, f"{gateway.url}{BASE}/nobody.svc/metrics?timeframe=2h")
        assert (status, body["error"]["code"]) == (400, "VALIDATION_FAILED")
        status, body = await get(http, f"{gateway.url}{BASE}/nobody.svc/metrics?timeframe=24h")
        assert (status, body["error"]["code"]) == (404, "UNKNOWN_SERVICE")
