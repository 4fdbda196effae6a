"""Shadow configs through the gateway and a real aggregator (docs/shadow-config.md): set, watched on live
traffic, served, promoted; bad input answered with the error envelope and its stable codes."""
from __future__ import annotations

import time

import aiohttp
import psycopg

from tests.integration.aggregator.support import Producer, Worker, outcome
from tests.integration.api.support import (BASE, admin_token, bearer, gateway_settings, new_service_name,
                                           running_gateway, wait_for)

AUTH = bearer(admin_token("frank"))
# Refused attempts take from the admin's rate-limit bucket too: the probes are another admin's.
PROBE = bearer(admin_token("grace"))
LIVE = {"failureThreshold": 10, "resetTimeoutMs": 600_000, "minHealthyPeriodMs": 0}


async def test_a_shadow_config_opens_its_own_breaker_and_promote_makes_it_the_live_one(
        stack, topics, database_url, tmp_path):
    service = new_service_name()
    worker = Worker(stack, topics, database_url, tmp_path).start()
    try:
        settings = gateway_settings(stack, topics, database_url, command_timeout_ms=15_000)
        async with running_gateway(settings) as gateway, aiohttp.ClientSession() as http, \
                Producer(stack, topics) as producer:
            url = f"{gateway.url}{BASE}/{service}"

            async def call(method: str, path: str, headers: dict = AUTH, **kw) -> tuple[int, dict]:
                async with http.request(method, url + path, headers=headers, **kw) as response:
                    return response.status, await response.json()

            # Given an unknown service: every shadow command is 404 UNKNOWN_SERVICE
            for method, path in (("PUT", "/shadow-config"), ("DELETE", "/shadow-config"),
                                 ("POST", "/shadow-config/promote")):
                status, body = await call(method, path, PROBE,
                                          json={"failureThreshold": 3} if method == "PUT" else None)
                assert (status, body["error"]["code"]) == (404, "UNKNOWN_SERVICE"), (method, body)

            # Given a known service with a live threshold of 10
            status, body = await call("PUT", "/config", json=LIVE)
            assert status == 200, body
            await producer.outcomes([outcome(service, "success")])
            await wait_for(lambda: service in gateway.view, timeout_s=90, what="the service")

            # Then an invalid candidate is 400 VALIDATION_FAILED naming the field, and promote with none set is 409
            status, body = await call("PUT", "/shadow-config", PROBE, json={"failureThreshold": 0, "bogus": 1})
            assert (status, body["error"]["code"]) == (400, "VALIDATION_FAILED")
            assert {d["field"] for d in body["error"]["details"]} == {"failureThreshold", "bogus"}
            status, body = await call("PUT", "/shadow-config", PROBE, json={"failureThreshold": 3.0})
            assert (status, body["error"]["code"]) == (400, "VALIDATION_FAILED")
            status, body = await call("POST", "/shadow-config/promote", PROBE)
            assert (status, body["error"]["code"]) == (409, "NO_SHADOW_CONFIG"), body
            status, body = await call("DELETE", "/shadow-config", PROBE, json={"x": 1})
            assert (status, body["error"]["code"]) == (400, "VALIDATION_FAILED")
            status, body = await call("GET", "/transitions?shadow=yes")
            assert (status, body["error"]["code"]) == (400, "VALIDATION_FAILED")

            # And a shadow config set and deleted leaves none behind
            status, body = await call("PUT", "/shadow-config", json={"failureThreshold": 2})
            assert status == 200, body
            status, body = await call("DELETE", "/shadow-config")
            assert (status, body["cleared"]) == (200, True), body
            await wait_for(lambda: "shadow" not in gateway.view.get(service), timeout_s=60, what="the shadow cleared")

            # When a partial candidate is set: it is merged onto the live config
            status, body = await call("PUT", "/shadow-config", json={"failureThreshold": 3})
            assert status == 200, body
            assert body["shadow"]["config"] == {**LIVE, "failureThreshold": 3, "requestLimit": None}
            await wait_for(lambda: (gateway.view.get(service) or {}).get("shadow") is not None,
                           timeout_s=60, what="the shadow in the state")

            # And live traffic fails 4 times
            now = int(time.time() * 1000)
            await producer.outcomes([outcome(service, "failure", ts=now + i) for i in range(4)])

            # Then the shadow breaker opens and the real one stays closed
            await wait_for(lambda: gateway.view.get(service)["shadow"]["state"] == "open", timeout_s=60,
                           what="the shadow breaker open")
            state = gateway.view.get(service)
            assert state["circuit"]["state"] == "closed" and state["circuit"]["failureCount"] == 4
            assert state["shadow"]["failureCount"] == 3
            assert state["shadow"]["lastTransition"]["shadow"] is True
            assert state["lastTransition"] is None

            # And its transition is stored and served apart from the real breaker's
            async def stored_shadow() -> bool:
                return len((await call("GET", "/transitions?shadow=true"))[1]) == 1

            await wait_for(stored_shadow, timeout_s=60, what="the shadow transition in PostgreSQL")
            _, shadow_only = await call("GET", "/transitions?shadow=true")
            assert shadow_only == [state["shadow"]["lastTransition"]]
            assert (await call("GET", "/transitions?shadow=false"))[1] == []

            # When the candidate is promoted (one success first: the real breaker's count starts again)
            await producer.outcomes([outcome(service, "success", ts=now + 10)])
            await wait_for(lambda: gateway.view.get(service)["circuit"]["failureCount"] == 0, timeout_s=60,
                           what="the success folded")
            status, body = await call("POST", "/shadow-config/promote")
            assert status == 200, body
            assert body["config"]["failureThreshold"] == 3
            await wait_for(lambda: "shadow" not in gateway.view.get(service)
                           and gateway.view.get(service)["config"]["failureThreshold"] == 3,
                           timeout_s=60, what="the promoted config")

            # Then the next outage opens the real breaker
            await producer.outcomes([outcome(service, "failure", ts=now + 20 + i) for i in range(3)])
            await wait_for(lambda: gateway.view.get(service)["circuit"]["state"] == "open", timeout_s=60,
                           what="the real breaker open")
            assert gateway.view.get(service)["lastTransition"].get("shadow") is None

            async def stored_real() -> bool:
                return len((await call("GET", "/transitions?shadow=false"))[1]) == 1

            await wait_for(stored_real, timeout_s=60, what="the real transition in PostgreSQL")
            assert len((await call("GET", "/transitions"))[1]) == 2

            # And the config projection in PostgreSQL holds the promoted config
            async def projected() -> bool:
                with psycopg.connect(database_url) as conn:
                    row = conn.execute("SELECT failure_threshold FROM circuit_breaker_config WHERE service_name = %s",
                                       (service,)).fetchone()
                return row == (3,)

            await wait_for(projected, timeout_s=60, what="the promoted config in circuit_breaker_config")
    finally:
        worker.stop()

    # And each shadow command is audited under its type, the refused ones as refused
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT action, outcome, error_code FROM admin_audit_log WHERE service_name = %s"
                            " AND action LIKE 'shadow-config.%%' ORDER BY id", (service,)).fetchall()
    assert rows == [
        ("shadow-config.set", "refused", "UNKNOWN_SERVICE"),
        ("shadow-config.clear", "refused", "UNKNOWN_SERVICE"),
        ("shadow-config.promote", "refused", "UNKNOWN_SERVICE"),
        ("shadow-config.set", "refused", "VALIDATION_FAILED"),
        ("shadow-config.set", "refused", "VALIDATION_FAILED"),
        ("shadow-config.promote", "rejected", "NO_SHADOW_CONFIG"),
        ("shadow-config.clear", "refused", "VALIDATION_FAILED"),
        ("shadow-config.set", "applied", None),
        ("shadow-config.clear", "applied", None),
        ("shadow-config.set", "applied", None),
        ("shadow-config.promote", "applied", None),
    ]
