"""The SDK against the real broker and a real aggregator: outcomes, short-circuiting, half-open trials."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from fusebox.core.codec import loads
from fusebox.sdk import BreakerOpenError, FuseboxClient
from tests.harness import Stack
from tests.integration.aggregator.support import Producer, Worker, command, latest_states, read_topic, wait_for


class PaymentDeclined(Exception):
    """A business error: the dependency answered, correctly."""


class UpstreamTimeout(Exception):
    pass


@pytest.fixture
def client(stack: Stack, topics: str):
    running = FuseboxClient(bootstrap=stack.kafka_bootstrap, topic_prefix=topics, instance="test-instance")
    yield running
    running.close()


@pytest.fixture
def worker(stack: Stack, topics: str, database_url: str, tmp_path: Path):
    running = Worker(stack, topics, database_url, tmp_path).start()
    yield running
    running.stop()


async def outcomes_of(stack: Stack, prefix: str, service: str) -> list[dict]:
    return [loads(r.value) for r in await read_topic(stack, prefix + "call-outcomes") if r.key == service.encode()]


async def test_outcomes_land_with_their_classification_latency_and_identity(stack: Stack, topics: str,
                                                                           client: FuseboxClient) -> None:
    # Given a breaker with a timeout, a timeout exception type and an excluded business error
    breaker = client.breaker("payments-api", timeout=0.2, timeout_exceptions=(UpstreamTimeout,),
                             exclude=(PaymentDeclined,))

    @breaker
    def charge(delay: float, error: Exception | None = None) -> str:
        time.sleep(delay)
        if error is not None:
            raise error
        return "ok"

    @breaker
    async def refund(delay: float) -> str:
        await asyncio.sleep(delay)
        return "ok"

    # When calls of every kind go through it, sync and async, decorated and as context managers
    assert charge(0.03) == "ok"                                          # success, ~30 ms
    with pytest.raises(ConnectionError):
        charge(0.0, ConnectionError("refused"))                          # failure
    with pytest.raises(UpstreamTimeout):
        charge(0.0, UpstreamTimeout())                                   # timeout (configured type)
    with pytest.raises(PaymentDeclined):
        charge(0.0, PaymentDeclined())                                   # success (excluded)
    assert charge(0.25) == "ok"                                          # timeout (slower than 0.2 s)
    with pytest.raises(TimeoutError):
        await refund(1.0)                                                # timeout (cancelled at 0.2 s)
    with breaker:
        time.sleep(0.01)                                                 # success, ~10 ms
    with pytest.raises(KeyError):
        async with breaker:
            raise KeyError("x")                                          # failure
    assert client.flush(10)

    # Then each lands on call-outcomes, keyed by service, in order, classified and timed
    events = await outcomes_of(stack, topics, "payments-api")
    assert [e["outcome"] for e in events] == ["success", "failure", "timeout", "success", "timeout", "timeout",
                                              "success", "failure"]
    latencies = [e["latencyMs"] for e in events]
    # A call takes at least as long as it sleeps; the upper bounds allow for a busy machine and
    # still tell milliseconds from seconds, and the cancelled refund (0.2 s) from its full second.
    assert 30 <= latencies[0] < 500 and 250 <= latencies[4] < 900 and 200 <= latencies[5] < 900
    assert 10 <= latencies[6] < 500 and latencies[1] < 500
    assert [e["error"] for e in events][1:4] == ["ConnectionError", f"{__name__}.UpstreamTimeout", None]
    assert len({e["eventId"] for e in events}) == 8
    assert {e["instance"] for e in events} == {"test-instance"}
    now = int(time.time() * 1000)
    assert all(now - 30_000 < e["ts"] <= now for e in events)
    assert client.stats().delivered == 8 and client.stats().dropped == 0


async def test_an_open_breaker_short_circuits_calls_and_half_open_admits_request_limit_trials(
        stack: Stack, topics: str, worker: Worker, client: FuseboxClient) -> None:
    service = "inventory-db"
    async with Producer(stack, topics) as producer:
        # Given a breaker that opens after 3 failures, tries again after 3 s, and closes after 2 trials
        await producer.commands([command(service, "config.update", {
            "failureThreshold": 3, "resetTimeoutMs": 3000, "minHealthyPeriodMs": 0, "requestLimit": 2})])
    assert await asyncio.to_thread(client.wait_until_live, 30)
    await wait_for(lambda: _async(client.state_of(service) is not None
                                  and client.state_of(service).request_limit == 2),
                   60, "the config reaches the SDK", worker=worker)
    breaker = client.breaker(service)

    # When the dependency fails 3 times
    for _ in range(3):
        with pytest.raises(ConnectionError):
            with breaker:
                raise ConnectionError("down")
    failed_at = time.monotonic()

    # Then, within a bounded time, calls fail at once with BreakerOpenError, without calling the dependency
    called = 0

    def dependency() -> None:
        nonlocal called
        called += 1
        raise ConnectionError("still down")

    while True:
        try:
            breaker.call(dependency)
        except BreakerOpenError as error:
            assert error.service == service and error.state == "open" and 0 < error.retry_after_s <= 3
            break
        except ConnectionError:
            pass
        assert time.monotonic() - failed_at < 5, "the SDK did not short-circuit within 5 s"
        await asyncio.sleep(0.02)
    short_circuited_after = time.monotonic() - failed_at
    calls_before = called
    started = time.perf_counter()
    for _ in range(20):
        with pytest.raises(BreakerOpenError):
            breaker.call(dependency)
    assert called == calls_before and time.perf_counter() - started < 0.05
    assert short_circuited_after < 5

    # And when the aggregator moves it to half-open, at most requestLimit (2) concurrent trials pass
    await wait_for(lambda: _async(breaker.state == "half-open"), 30, "half-open reaches the SDK", worker=worker)
    running = 0
    most = 0

    async def trial() -> str:
        nonlocal running, most
        async with breaker:
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.5)
            running -= 1
            return "ok"

    results = await asyncio.gather(*(trial() for _ in range(6)), return_exceptions=True)
    assert sum(r == "ok" for r in results) == 2 and most == 2
    assert sum(isinstance(r, BreakerOpenError) and r.state == "half-open" for r in results) == 4

    # And the two successful trials close it
    await wait_for(lambda: _async(breaker.state == "closed"), 30, "closed reaches the SDK", worker=worker)
    with breaker:
        pass

    # And the rejected calls were published and counted by the aggregator
    assert client.flush(10)
    rejected = client.stats().rejected
    assert rejected >= 25
    events = await outcomes_of(stack, topics, service)
    assert sum(e["outcome"] == "rejected" for e in events) == rejected
    await wait_for(lambda: _has_rejected(stack, topics, service, rejected), 30, "rejected counted", worker=worker)


async def _async(value: bool) -> bool:
    return value


async def _has_rejected(stack: Stack, prefix: str, service: str, count: int) -> bool:
    state = (await latest_states(stack, prefix)).get(service)
    return state is not None and state["operations"]["rejected"] == count


async def test_the_sdk_keeps_calling_while_the_shadow_breaker_is_open_and_enforces_it_once_promoted(
        stack: Stack, topics: str, worker: Worker, client: FuseboxClient) -> None:
    service = "shadowed-db"
    async with Producer(stack, topics) as producer:
        # Given a live breaker that opens after 10 failures and a shadow config that opens after 3
        await producer.commands([command(service, "config.update", {
            "failureThreshold": 10, "resetTimeoutMs": 600_000, "minHealthyPeriodMs": 0})])
        await producer.commands([command(service, "shadow-config.set", {"failureThreshold": 3})])
        assert await asyncio.to_thread(client.wait_until_live, 30)
        await wait_for(lambda: _shadow_is(stack, topics, service, "closed"), 60, "the shadow set", worker=worker)
        breaker = client.breaker(service)
        called = 0

        def dependency() -> None:
            nonlocal called
            called += 1
            raise ConnectionError("down")

        # When the dependency fails 4 times: the shadow breaker opens
        for _ in range(4):
            with pytest.raises(ConnectionError):
                breaker.call(dependency)
        assert client.flush(10)
        await wait_for(lambda: _shadow_is(stack, topics, service, "open"), 60, "the shadow open", worker=worker)
        state = (await latest_states(stack, topics))[service]
        assert state["circuit"]["state"] == "closed"

        # Then the SDK keeps calling the dependency: the shadow is never enforced
        for _ in range(4):
            with pytest.raises(ConnectionError):
                breaker.call(dependency)
        assert called == 8 and breaker.state == "closed" and client.stats().rejected == 0
        assert breaker.call(lambda: "ok") == "ok"  # the real breaker's count starts again
        assert client.flush(10)
        await wait_for(lambda: _failure_count_is(stack, topics, service, 0), 60, "the success folded",
                       worker=worker)

        # When the shadow config is promoted
        await producer.commands([command(service, "shadow-config.promote", {})])
        await wait_for(lambda: _threshold_is(stack, topics, service, 3), 60, "the promoted config", worker=worker)

    # Then the next outage opens the real breaker, and the SDK short-circuits
    for _ in range(3):
        with pytest.raises(ConnectionError):
            breaker.call(dependency)
    await wait_for(lambda: _async(breaker.state == "open"), 60, "the real breaker open in the SDK", worker=worker)
    with pytest.raises(BreakerOpenError):
        breaker.call(dependency)
    assert called == 11


async def _shadow_is(stack: Stack, prefix: str, service: str, circuit: str) -> bool:
    state = (await latest_states(stack, prefix)).get(service)
    return state is not None and (state.get("shadow") or {}).get("state") == circuit


async def _failure_count_is(stack: Stack, prefix: str, service: str, count: int) -> bool:
    state = (await latest_states(stack, prefix)).get(service)
    return state is not None and state["circuit"]["failureCount"] == count


async def _threshold_is(stack: Stack, prefix: str, service: str, threshold: int) -> bool:
    state = (await latest_states(stack, prefix)).get(service)
    return state is not None and state["config"]["failureThreshold"] == threshold and "shadow" not in state
