"""The Python admin client: receives updates, resumes after a drop, backs off exponentially, gives up after 5."""
from __future__ import annotations

import asyncio
import random

from fusebox.api import keys
from fusebox.sdk.admin_client import AdminClient, backoff_delay
from tests.harness import free_port
from tests.integration.api.support import admin_token, running_gateway, service_state, wait_for


async def test_backoff_doubles_is_capped_and_jittered_then_the_client_gives_up_after_five_attempts():
    # Given a client pointed at a port where nothing listens, with a seeded jitter and a recording sleep
    slept: list[float] = []

    async def record_sleep(delay: float) -> None:
        slept.append(delay)

    events: list[dict] = []
    client = AdminClient(f"ws://127.0.0.1:{free_port()}/api/admin/ws", "token", events.append,
                         base_delay_s=1.0, max_delay_s=10.0, jitter=0.5, rng=random.Random(7), sleep=record_sleep)
    # When it runs
    assert await client.run() is False
    # Then it slept before each of 5 attempts, each delay within [ceiling/2, ceiling] of 1, 2, 4, 8, 10 s
    expected_rng = random.Random(7)
    assert slept == [backoff_delay(n, base_delay_s=1.0, max_delay_s=10.0, jitter=0.5, rng=expected_rng)
                     for n in range(1, 6)]
    for delay, ceiling in zip(slept, [1, 2, 4, 8, 10]):
        assert ceiling / 2 <= delay <= ceiling
    # And its user saw every attempt reported, ending with a give-up
    reconnecting = [e["reconnectAttempts"] for e in events if e["status"] == "reconnecting"]
    assert reconnecting == [1, 2, 3, 4, 5]
    assert events[-1]["status"] == "disconnected" and events[-1]["gaveUp"] is True


async def test_the_client_gets_updates_answers_heartbeats_and_resumes_after_a_drop(stack, topics, database_url,
                                                                                  kafka_topics):
    from tests.integration.api.support import gateway_settings

    settings = gateway_settings(stack, topics, database_url, heartbeat_ms=200)
    events: list[dict] = []
    async with running_gateway(settings) as gateway:
        client = AdminClient(gateway.ws_url, admin_token("carol"), events.append, base_delay_s=0.05)
        runner = asyncio.create_task(client.run())
        await wait_for(lambda: any(e.get("status") == "connected" for e in events), what="connected")
        await kafka_topics.publish_state(service_state("c1", version=1))
        await wait_for(lambda: any(e.get("service") == "c1" for e in events), what="the first update")
        # Heartbeats are answered, so the server keeps the client past several intervals
        hub = gateway.app[keys.HUB]
        await wait_for(lambda: gateway.metrics.ws_pong_rtt._sum.get() > 0, what="a pong")
        # When the server drops the connection and a change happens meanwhile
        for ws_client in list(hub.clients):
            hub.drop(ws_client, 4000, "test drop", reason="test")
        await kafka_topics.publish_state(service_state("c2", version=1))
        # Then the client reconnects with its session and gets the missed change by replay
        await wait_for(lambda: any(e.get("service") == "c2" for e in events), what="the missed update")
        statuses = [e for e in events if e["type"] == "connection:status"]
        resumed = [e for e in statuses if e.get("status") == "connected" and e.get("resumed")]
        assert resumed and resumed[0]["reconnectAttempts"] == 1
        await client.stop()
        assert await asyncio.wait_for(runner, 5) is True
