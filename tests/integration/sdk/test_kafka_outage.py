"""Kafka stopped while the application keeps calling: calls stay fast, the buffer bounds what is kept."""
from __future__ import annotations

import asyncio
import statistics
import time

from fusebox.core.codec import loads
from fusebox.sdk import FuseboxClient
from tests.harness import Stack
from tests.integration.aggregator.support import read_topic, wait_for

BUFFER = 300
DURING_OUTAGE = 1000


async def test_calls_stay_fast_during_an_outage_and_the_buffer_is_delivered_after_it(stack: Stack,
                                                                                       topics: str) -> None:
    client = FuseboxClient(bootstrap=stack.kafka_bootstrap, topic_prefix=topics, instance="outage",
                           buffer_size=BUFFER, request_timeout_ms=3000, stale_after_s=2.0)
    breaker = client.breaker("orders-db")
    try:
        # Given a client whose outcomes flow and whose state stream is live
        assert await asyncio.to_thread(client.wait_until_live, 30)
        for _ in range(50):
            with breaker:
                pass
        assert client.flush(10) and client.stats().delivered == 50

        # When Kafka stops and the application keeps calling
        await asyncio.to_thread(stack.stop_kafka)
        try:
            await wait_for(lambda: _async(client.stats().state_stream == "unavailable"), 15,
                           "the SDK notices the state stream is gone")
            durations = []
            for i in range(DURING_OUTAGE):
                started = time.perf_counter()
                with breaker:
                    pass
                durations.append(time.perf_counter() - started)
                if i % 50 == 0:
                    await asyncio.sleep(0.01)  # an application doing other work between calls
            during = client.stats()
        finally:
            await asyncio.to_thread(stack.start_kafka)

        # Then no call waited for Kafka
        assert statistics.median(durations) < 0.0005 and max(durations) < 0.05, (statistics.median(durations),
                                                                                 max(durations))
        # And the calls passed (fail open), said so, and everything beyond the buffer was dropped, counted exactly
        assert during.fail_open_calls == DURING_OUTAGE
        assert during.dropped == DURING_OUTAGE - BUFFER and during.buffered == BUFFER
        assert during.recorded == 50 + BUFFER

        # And once Kafka is back, the buffered outcomes are delivered
        assert await asyncio.to_thread(client.flush, 90), client.stats()
        after = client.stats()
        assert after.delivered == 50 + BUFFER and after.dropped == DURING_OUTAGE - BUFFER
        await wait_for(lambda: _async(client.stats().state_stream == "live"), 30, "the state stream is live again")
    finally:
        await client.aclose()

    records = [loads(r.value) for r in await read_topic(stack, topics + "call-outcomes")]
    assert len({r["eventId"] for r in records}) == 50 + BUFFER  # redelivery could duplicate, never lose


async def _async(value: bool) -> bool:
    return value
