"""The gateway with the real aggregator: outcomes in, state out; config and reset round trips; history in order."""
from __future__ import annotations

import time

from tests.e2e.api.conftest import AUTH
from tests.integration.aggregator.support import outcome
from tests.integration.api.support import BASE, wait_for


async def test_config_reset_and_history_end_to_end(live):
    gateway, http, producer = live.gateway, live.http, live.producer
    # Given a service whose breaker opened after six failures
    now = int(time.time() * 1000)
    await producer.outcomes([outcome("orders", "success", ts=now)] +
                            [outcome("orders", "failure", ts=now + i + 1) for i in range(6)])
    await wait_for(lambda: (gateway.view.get("orders") or {}).get("circuit", {}).get("state") == "open",
                   timeout_s=90, what="the breaker to open")
    opened = gateway.view.get("orders")

    # When an admin changes its config, the answer and the next ServiceState carry it
    config = {"failureThreshold": 9, "resetTimeoutMs": 60_000, "minHealthyPeriodMs": 1000}
    async with http.put(f"{gateway.url}{BASE}/orders/config", json=config, headers=AUTH) as response:
        answer = await response.json()
    assert response.status == 200, answer
    assert {k: answer["config"][k] for k in config} == config
    await wait_for(lambda: gateway.view.get("orders")["config"]["failureThreshold"] == 9,
                   what="the new config in the state")

    # When an admin force-resets it, the answer is the true state before the reset
    async with http.post(f"{gateway.url}{BASE}/orders/reset", json={"reason": "fixed", "force": True},
                         headers=AUTH) as response:
        answer = await response.json()
    assert response.status == 200, answer
    assert answer["previousState"] == {k: opened["circuit"][k]
                                       for k in ("failureCount", "lastFailure", "totalIncidents")}
    await wait_for(lambda: gateway.view.get("orders")["circuit"]["state"] == "closed",
                   what="the closed breaker")

    # And the status periods come back from PostgreSQL in time order
    async def history() -> list[dict]:
        async with http.get(f"{gateway.url}{BASE}/orders/history", headers=AUTH) as response:
            return await response.json()

    async def failed_period_ended() -> bool:
        return "failed" in [e["status"] for e in await history()]

    await wait_for(failed_period_ended, timeout_s=60, what="the failed period in the history")
    entries = await history()
    assert [e["timestamp"] for e in entries] == sorted(e["timestamp"] for e in entries)
    statuses = [e["status"] for e in entries]
    assert statuses.index("degraded") < statuses.index("failed")
