"""`GET /{service}/metrics/series`: every bucket of the window from real rollup rows in PostgreSQL."""
from __future__ import annotations

import math
import random
import time
from datetime import datetime

import psycopg
import pytest

from fusebox.aggregator.rollup_store import live_row, upsert_live, write_rollups
from fusebox.core import rollups
from tests.integration.api.support import (BASE, admin_token, bearer, gateway_settings, new_service_name,
                                           running_gateway, service_state, wait_for)

AUTH = bearer(admin_token("alice"))
MINUTE_MS, HOUR_MS, DAY_MS = 60_000, 3_600_000, 86_400_000
SERIES = {"1h": (MINUTE_MS, 60), "24h": (15 * MINUTE_MS, 96), "7d": (HOUR_MS, 168), "30d": (DAY_MS, 30)}


def exact_at_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


class Calls:
    """Calls per (minute, part), turned into the rollup values the aggregator emits."""

    def __init__(self, service: str, seed: int):
        self.service = service
        self.rng = random.Random(seed)
        self.buckets: dict[tuple[int, int], list] = {}
        self.raw: list[tuple[int, str, float]] = []  # (minute, outcome, latency) of calls that count

    def add(self, minute: int, part: int, successes: int, failures: int, rejected: int = 0) -> None:
        bucket = self.buckets.setdefault((minute, part), rollups._new_bucket(part))
        for outcome, count in (("success", successes), ("failure", failures)):
            for _ in range(count):
                latency = round(self.rng.lognormvariate(3, 0.7), 3)
                rollups.add(bucket, outcome, latency)
                self.raw.append((minute, outcome, latency))
        for _ in range(rejected):
            rollups.add(bucket, "rejected", 0.0)
            self.raw.append((minute, "rejected", 0.0))

    def value(self, minute: int, part: int) -> dict:
        return rollups.rollup_value(self.service, minute, self.buckets[(minute, part)])


def ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def assert_series_matches(body: dict, calls: Calls, timeframe: str) -> None:
    size, count = SERIES[timeframe]
    assert body["timeframe"] == timeframe and body["bucketMs"] == size and len(body["buckets"]) == count
    start, end = ms(body["from"]), ms(body["to"])
    assert end - start == size * count and start % size == 0
    assert [ms(b["start"]) for b in body["buckets"]] == list(range(start, end, size))
    for bucket in body["buckets"]:
        lo = ms(bucket["start"])
        inside = [(outcome, latency) for minute, outcome, latency in calls.raw if lo <= minute < lo + size]
        made = [latency for outcome, latency in inside if outcome != "rejected"]
        where = f"{timeframe} bucket {bucket['start']}"
        assert bucket["requestCount"] == len(made), where
        assert bucket["successCount"] == sum(1 for outcome, _ in inside if outcome == "success"), where
        assert bucket["failureCount"] == sum(1 for outcome, _ in inside if outcome == "failure"), where
        assert bucket["rejectedCount"] == sum(1 for outcome, _ in inside if outcome == "rejected"), where
        if not made:
            assert (bucket["avgResponseTime"], bucket["p95ResponseTime"], bucket["p99ResponseTime"]) == (
                None, None, None), where
            continue
        assert bucket["avgResponseTime"] == pytest.approx(sum(made) / len(made), rel=1e-9), where
        for q, key in ((0.95, "p95ResponseTime"), (0.99, "p99ResponseTime")):
            assert bucket[key] == pytest.approx(exact_at_rank(made, q), rel=0.02), where


async def test_every_bucket_of_each_timeframe_from_rollup_rows(stack, topics, database_url, kafka_topics, http):
    service = new_service_name()
    now = int(time.time() * 1000)
    minute = now - now % MINUTE_MS
    calls = Calls(service, seed=13)
    # Given closed minutes 40 days, 3 days and 2 hours ago, three and two minutes ago, a correction of the minute
    # three minutes ago, and the current minute still open (a live row)
    old, days_ago, hours_ago = minute - 40 * DAY_MS, minute - 3 * DAY_MS, minute - 2 * HOUR_MS
    calls.add(old, 0, 30, 2)
    calls.add(days_ago, 0, 50, 5, rejected=3)
    calls.add(hours_ago, 0, 80, 20)
    calls.add(minute - 3 * MINUTE_MS, 0, 120, 7, rejected=4)
    calls.add(minute - 2 * MINUTE_MS, 0, 60, 0)
    calls.add(minute - 3 * MINUTE_MS, 1, 5, 5)
    calls.add(minute, 0, 40, 10, rejected=1)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await write_rollups(conn, [calls.value(m, p) for m, p in sorted(calls.buckets, key=lambda k: (k[1], k[0]))
                                   if m != minute])
        await upsert_live(conn, [live_row(service, calls.value(minute, 0))])
        # A stale live snapshot of a minute that has closed since is shadowed by its row, never added twice
        stale = rollups._new_bucket(0)
        rollups.add(stale, "success", 5.0)
        await upsert_live(conn, [live_row(service, rollups.rollup_value(service, minute - 2 * MINUTE_MS, stale))])
    await kafka_topics.publish_state(service_state(service))
    settings = gateway_settings(stack, topics, database_url)
    async with running_gateway(settings) as gateway:
        await wait_for(lambda: service in gateway.view, what="the service in the view")
        # When the dashboard asks for each timeframe's series
        for timeframe in SERIES:
            async with http.get(f"{gateway.url}{BASE}/{service}/metrics/series", params={"timeframe": timeframe},
                                headers=AUTH) as response:
                assert response.status == 200, timeframe
                body = await response.json()
            # Then every bucket holds exactly its calls, p95/p99 from its merged sketches
            assert body["service"] == service
            assert_series_matches(body, calls, timeframe)
            # And the buckets of 1h and 7d add up to /metrics of the same window
            if timeframe in ("1h", "7d"):
                async with http.get(f"{gateway.url}{BASE}/{service}/metrics", params={"timeframe": timeframe},
                                    headers=AUTH) as response:
                    total = (await response.json())["data"]
                assert total["requestCount"] == sum(b["requestCount"] for b in body["buckets"])
        # The answer is cached like /metrics: a new call shows once the cache expired
        url = f"{gateway.url}{BASE}/{service}/metrics/series?timeframe=1h"

        async def requests_in_1h() -> int:
            async with http.get(url, headers=AUTH) as response:
                return sum(b["requestCount"] for b in (await response.json())["buckets"])

        before = await requests_in_1h()
        later = minute - MINUTE_MS
        calls.add(later, 0, 9, 1)
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            await upsert_live(conn, [live_row(service, calls.value(later, 0))])
        assert await requests_in_1h() == before
        await wait_for(lambda: _equals(requests_in_1h(), before + 10), timeout_s=15, what="the cache to expire")
        async with http.get(url, headers=AUTH) as response:
            assert_series_matches(await response.json(), calls, "1h")


async def _equals(answer, expected: int) -> bool:
    return await answer == expected


async def test_series_refuses_bad_timeframes_and_unknown_services(kafka_topics, gateway, http):
    service = new_service_name()
    await kafka_topics.publish_state(service_state(service))
    await wait_for(lambda: service in gateway.view, what="the service in the view")
    async with http.get(f"{gateway.url}{BASE}/{service}/metrics/series", params={"timeframe": "2h"},
                        headers=AUTH) as response:
        assert response.status == 400
        error = (await response.json())["error"]
        assert error["code"] == "VALIDATION_FAILED" and error["details"][0]["field"] == "timeframe"
    async with http.get(f"{gateway.url}{BASE}/never-seen/metrics/series", headers=AUTH) as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "UNKNOWN_SERVICE"
    async with http.get(f"{gateway.url}{BASE}/{service}/metrics/series") as response:
        assert response.status == 401
    # No timeframe means 1h, as for /metrics; no calls means zeros and null latencies
    async with http.get(f"{gateway.url}{BASE}/{service}/metrics/series", headers=AUTH) as response:
        body = await response.json()
    assert body["timeframe"] == "1h" and len(body["buckets"]) == 60
    assert body["buckets"][0] == {"start": body["from"], "requestCount": 0, "successCount": 0, "failureCount": 0,
                                  "rejectedCount": 0, "avgResponseTime": None, "p95ResponseTime": None,
                                  "p99ResponseTime": None}


async def test_series_and_audit_are_503_while_postgresql_is_unreachable(stack, topics, kafka_topics, http):
    service = new_service_name()
    await kafka_topics.publish_state(service_state(service))
    unreachable = stack.database_url.rsplit("/", 1)[0] + "/no_such_database"
    settings = gateway_settings(stack, topics, unreachable, db_timeout_ms=1000)
    async with running_gateway(settings) as gateway:
        await wait_for(lambda: service in gateway.view, what="the service in the view")
        for path in (f"{service}/metrics/series?timeframe=24h", f"{service}/audit"):
            async with http.get(f"{gateway.url}{BASE}/{path}", headers=AUTH) as response:
                assert response.status == 503, path
                assert int(response.headers["Retry-After"]) >= 1
                assert (await response.json())["error"]["code"] == "DEPENDENCY_UNAVAILABLE"
