"""Kafka stopped: config changes fail fast with 503, recover by themselves, and no acknowledged command is lost.

This test stops and restarts the session's broker; it waits until Kafka is back before it ends.
"""
from __future__ import annotations

import asyncio
import time

from tests.integration.api.support import BASE, admin_token, bearer, gateway_settings, running_gateway

AUTH = bearer(admin_token("ops"))
BODY = {"failureThreshold": 4, "resetTimeoutMs": 1000, "minHealthyPeriodMs": 0}
SEND_TIMEOUT_S = 2.0


async def put_config(http, gateway, service: str) -> tuple[int, dict, float, dict]:
    started = time.monotonic()
    async with http.put(f"{gateway.url}{BASE}/{service}/config", json=BODY, headers=AUTH) as response:
        return response.status, await response.json(), time.monotonic() - started, dict(response.headers)


async def test_kafka_outage_gives_fast_503s_then_recovers_without_losing_acknowledged_commands(
        stack, topics, database_url, kafka_topics, http):
    settings = gateway_settings(stack, topics, database_url, kafka_send_timeout_ms=int(SEND_TIMEOUT_S * 1000),
                                command_timeout_ms=200, breaker_failure_threshold=2, breaker_reset_timeout_ms=1000,
                                rate_limit_burst=1000)
    acknowledged: list[str] = []
    async with running_gateway(settings) as gateway:
        status, body, _, _ = await put_config(http, gateway, "before")
        assert status == 202
        acknowledged.append(body["commandId"])

        await asyncio.to_thread(stack.stop_kafka)
        try:
            outcomes = [await put_config(http, gateway, f"during-{i}") for i in range(6)]
        finally:
            await asyncio.to_thread(stack.start_kafka)
        # Every request during the outage is a 503 with Retry-After, none waits longer than the send timeout,
        # and once the gateway's breaker is open they fail fast
        for status, body, elapsed, headers in outcomes:
            assert status == 503, body
            assert body["error"]["code"] == "DEPENDENCY_UNAVAILABLE" and int(headers["Retry-After"]) >= 1
            assert elapsed < SEND_TIMEOUT_S + 2
        assert min(elapsed for _, _, elapsed, _ in outcomes[2:]) < 0.5

        # Once Kafka is back the gateway recovers by itself
        deadline = time.monotonic() + 90
        while True:
            status, body, _, _ = await put_config(http, gateway, "after")
            if status in (200, 202):
                acknowledged.append(body["commandId"])
                break
            assert status == 503 and time.monotonic() < deadline, body
            await asyncio.sleep(0.5)
        for i in range(3):
            status, body, _, _ = await put_config(http, gateway, f"after-{i}")
            assert status == 202
            acknowledged.append(body["commandId"])

    # Every command answered 2xx is on breaker-commands
    commands = await kafka_topics.read_commands(len(acknowledged), timeout_s=30)
    assert set(acknowledged) <= {c["commandId"] for c in commands}
