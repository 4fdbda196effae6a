"""An outage on the real stack under a failure-rate rule: the transition names the rule and the
window, is pushed on the WebSocket, stored in PostgreSQL and served by REST (docs/trip-rules.md)."""
from __future__ import annotations

import time

import aiohttp

from tests.e2e.api.conftest import AUTH
from tests.integration.aggregator.support import outcome
from tests.integration.api.support import BASE, open_ws, wait_for, ws_messages

RULES = {"failureThreshold": 1000, "resetTimeoutMs": 600_000, "minHealthyPeriodMs": 0,
         "failureRateThreshold": 50, "slidingWindowType": "count", "slidingWindowSize": 10,
         "minimumNumberOfCalls": 10}


async def history_of(http: aiohttp.ClientSession, url: str) -> list[dict]:
    async with http.get(f"{url}{BASE}/checkout/history", headers=AUTH) as response:
        assert response.status == 200
        return await response.json()


def failing(service: str, ts: int, instance: str, error: str) -> dict:
    return {**outcome(service, "failure", ts=ts), "instance": instance, "error": error}


async def test_an_outage_opens_on_the_failure_rate_and_says_why_on_rest_and_the_websocket(live):
    gateway, http, producer = live.gateway, live.http, live.producer
    # Given a known service under a failure-rate rule of 50% over the last 10 calls
    now = int(time.time() * 1000)
    await producer.outcomes([outcome("checkout", "success", ts=now)])
    await wait_for(lambda: gateway.view.get("checkout") is not None, timeout_s=90, what="the service")
    async with http.put(f"{gateway.url}{BASE}/checkout/config", json=RULES, headers=AUTH) as response:
        answer = await response.json()
    assert response.status == 200, answer
    assert answer["config"]["failureRateThreshold"] == 50

    async with open_ws(http, gateway.ws_url) as ws:
        status, _snapshot = await ws_messages(ws, 2)
        assert status["type"] == "connection:status"

        # When 5 successes and then 5 failures from two pods make 5 of the last 10 calls fail
        start = int(time.time() * 1000)
        await producer.outcomes(
            [outcome("checkout", "success", ts=start + i) for i in range(5)]
            + [failing("checkout", start + 10 + i, "pod-a" if i % 2 else "pod-b",
                       "ConnectionRefused" if i < 4 else "ReadTimeout") for i in range(5)])

        # Then the WebSocket pushes the transition before the state that shows it
        pushed = None
        deadline = time.monotonic() + 60
        while pushed is None and time.monotonic() < deadline:
            for message in await ws_messages(ws, 1, timeout_s=60):
                if message["type"] == "service:transition" and message["service"] == "checkout":
                    pushed = message["data"]
        assert pushed is not None, "no service:transition pushed"
    assert (pushed["from"], pushed["to"]) == ("closed", "open")
    cause = pushed["cause"]
    assert (cause["rule"], cause["threshold"], cause["minimumNumberOfCalls"]) == ("failure-rate", 50, 10)
    window = cause["window"]
    assert (window["type"], window["size"], window["calls"], window["failures"], window["failureRate"]) == (
        "count", 10, 10, 5, 50.0)
    assert cause["errors"] == ["ConnectionRefused", "ReadTimeout"]
    assert sorted(cause["failingInstances"]) == ["pod-a", "pod-b"]
    assert cause["input"]["source"].startswith("call-outcomes:")
    await wait_for(lambda: gateway.view.get("checkout")["lastTransition"] == pushed,
                   what="the state's lastTransition")

    # And REST serves the same transition from PostgreSQL
    async def transitions() -> list[dict]:
        async with http.get(f"{gateway.url}{BASE}/checkout/transitions", headers=AUTH) as response:
            assert response.status == 200
            return await response.json()

    async def stored() -> bool:
        return len(await transitions()) >= 1

    await wait_for(stored, timeout_s=60, what="the transition in PostgreSQL")
    assert await transitions() == [pushed]

    # And once a forced reset ends the failed period, its history entry names that transition
    async with http.post(f"{gateway.url}{BASE}/checkout/reset", headers=AUTH,
                         json={"reason": "recovered", "force": True}) as response:
        assert response.status == 200, await response.text()

    async def failed_periods() -> list[dict]:
        async with http.get(f"{gateway.url}{BASE}/checkout/history", headers=AUTH) as response:
            assert response.status == 200
            return [entry for entry in await response.json() if entry["status"] == "failed"]

    async def failed_period_stored() -> bool:
        return len(await failed_periods()) >= 1

    await wait_for(failed_period_stored, timeout_s=60, what="the failed period in PostgreSQL")
    [period] = await failed_periods()
    assert (period["transitionSeq"], period["timestamp"]) == (pushed["seq"], pushed["at"])
    assert all("transitionSeq" not in entry for entry in await history_of(http, gateway.url)
               if entry["status"] != "failed")
