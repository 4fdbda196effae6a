"""kill -9 the Kafka broker while the SDK publishes at a steady rate, then start it again.

The broker is one of this scenario's own (the session's broker serves other tests). Every outcome
the SDK reports delivered is folded exactly once, the ones it reports dropped are exactly the ones
missing, and the API answers 503 DEPENDENCY_UNAVAILABLE during the outage and recovers by itself.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from pathlib import Path

import aiohttp

from fusebox.core.codec import loads
from fusebox.kafka_admin import ensure_topics
from fusebox.sdk import FuseboxClient
from tests.chaos.support import Figures, OwnStack, Profile, Stopwatch, Tally
from tests.harness import Stack
from tests.integration.aggregator.support import Worker, latest_states, read_topic, wait_for
from tests.integration.api.support import BASE, admin_token, bearer, gateway_settings, running_gateway

AUTH = bearer(admin_token("chaos"))
CONFIG = {"failureThreshold": 5, "resetTimeoutMs": 1000, "minHealthyPeriodMs": 0}
SERVICES = [f"steady-{i}" for i in range(6)]


class SteadyCaller:
    """Records outcomes through the SDK at a steady rate, from start() to stop(), and remembers which ones
    the buffer accepted."""

    def __init__(self, client: FuseboxClient, rate_per_s: int) -> None:
        self.client, self.rate = client, rate_per_s
        self.accepted = Tally()
        self.attempts = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        started = time.monotonic()
        while True:
            due = int((time.monotonic() - started) * self.rate) + 1
            while self.attempts < due:
                service = SERVICES[self.attempts % len(SERVICES)]
                if self.client.record(service, "success", 3.0):
                    self.accepted.add(service, "success")
                self.attempts += 1
            await asyncio.sleep(0.01)


async def put_config(http: aiohttp.ClientSession, url: str, service: str) -> tuple[int, str | None]:
    try:
        async with http.put(f"{url}{BASE}/{service}/config", json=CONFIG, headers=AUTH) as response:
            body = await response.json()
            return response.status, (body.get("error") or {}).get("code")
    except aiohttp.ClientError as exc:
        return 0, type(exc).__name__


async def test_kill_9_the_broker_while_the_sdk_publishes(stack: Stack, topic_prefix: str, database_url: str,
                                                         tmp_path: Path, profile: Profile, figures: Figures) -> None:
    own = OwnStack().up()
    worker = client = caller = None
    try:
        local = own.stack(stack)
        await ensure_topics(own.kafka_bootstrap, topic_prefix)
        worker = Worker(local, topic_prefix, database_url, tmp_path).start()
        client = FuseboxClient(bootstrap=own.kafka_bootstrap, topic_prefix=topic_prefix, instance="chaos-broker",
                               buffer_size=profile.sdk_buffer, request_timeout_ms=3000, enforce=False)
        caller = SteadyCaller(client, profile.sdk_rate_per_s)
        settings = gateway_settings(local, topic_prefix, database_url, kafka_send_timeout_ms=2000,
                                    command_timeout_ms=300, breaker_failure_threshold=2,
                                    breaker_reset_timeout_ms=1000, rate_limit_burst=100_000)
        async with running_gateway(settings) as gateway, aiohttp.ClientSession() as http:
            # Given outcomes flowing and config changes accepted
            caller.start()
            await asyncio.sleep(profile.sdk_seconds_before)
            assert (await put_config(http, gateway.url, "before"))[0] in (200, 202)

            # When the broker is killed with SIGKILL, stays down, and starts again
            own.kill_kafka()
            outage = Stopwatch()
            during: list[tuple[int, str | None]] = []

            async def probe_api() -> None:
                while outage() < profile.broker_down_s:
                    during.append(await put_config(http, gateway.url, f"during-{len(during)}"))
                    await asyncio.sleep(0.5)

            await probe_api()
            dropped_during = client.stats().dropped
            restart = Stopwatch()
            await asyncio.to_thread(own.start_kafka)
            broker_back_s = restart()

            # Then the API recovers by itself
            recovered = Stopwatch()
            while True:
                status, code = await put_config(http, gateway.url, "after")
                if status in (200, 202):
                    break
                assert status == 503 and code == "DEPENDENCY_UNAVAILABLE", (status, code)
                assert recovered() < 120, "the API did not recover within 120 s of the broker's restart"
                await asyncio.sleep(0.5)
            api_recovered_s = recovered()
            await asyncio.sleep(profile.sdk_seconds_after)
            await caller.stop()

        flushed = Stopwatch()
        assert await asyncio.to_thread(client.flush, 120), client.stats()
        flush_s = flushed()
        stats = client.stats()

        # And during the outage every config change was refused with 503 DEPENDENCY_UNAVAILABLE
        assert during and all(answer == (503, "DEPENDENCY_UNAVAILABLE") for answer in during), during

        # And the SDK's books balance: every attempt was delivered or dropped
        assert stats.buffered == 0
        assert stats.delivered == caller.accepted.total == stats.recorded
        assert caller.attempts == stats.delivered + stats.dropped
        assert stats.dropped > 0, "the outage was meant to overflow the buffer"

        # And every delivered outcome was folded exactly once: the drops are exactly the missing ones
        async def all_folded() -> bool:
            return caller.accepted.folded(await latest_states(local, topic_prefix)) >= stats.delivered

        await wait_for(all_folded, 180, "every delivered outcome folded", every=1.0, worker=worker)
        states = await latest_states(local, topic_prefix)
        records = await read_topic(local, topic_prefix + "call-outcomes")
        event_ids = Counter(loads(r.value)["eventId"] for r in records)
        duplicated = sum(n - 1 for n in event_ids.values())
        assert duplicated == 0, f"{duplicated} outcomes are on call-outcomes more than once"
        assert len(event_ids) == stats.delivered
        assert caller.accepted.differences(states) == []
        assert caller.attempts - caller.accepted.folded(states) == stats.dropped
        assert worker.process.poll() is None, worker.log()
        figures.record("broker kill -9 under the SDK", rate_per_s=profile.sdk_rate_per_s,
                       attempts=caller.attempts, delivered=stats.delivered, dropped=stats.dropped,
                       dropped_during_outage=dropped_during, buffer=profile.sdk_buffer,
                       broker_down_s=profile.broker_down_s, broker_restart_s=broker_back_s,
                       api_503s=len(during), api_recovered_s=api_recovered_s, sdk_flush_s=flush_s,
                       failed_sends=stats.failed_sends)
    finally:
        if caller is not None:
            await caller.stop()
        if client is not None:
            await client.aclose(timeout=5)
        if worker is not None:
            worker.stop()
        await asyncio.to_thread(own.close)
