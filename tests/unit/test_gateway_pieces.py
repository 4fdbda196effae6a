"""Pure pieces of the gateway: the WebSocket hub's resume window, and its own breaker with a fake clock."""
from __future__ import annotations

import asyncio

import pytest

from fusebox.api.dependency_guard import CLOSED, HALF_OPEN, OPEN, DependencyBreaker, DependencyUnavailable
from fusebox.api.metrics import ApiMetrics
from fusebox.api.state_view import StateView
from fusebox.api.ws import WsHub
from fusebox.core import codec


def hub_after_changes(changes: int, resume_buffer: int) -> WsHub:
    """A hub that has flushed `changes` updates (seq 1..changes), keeping the last `resume_buffer`."""
    hub = WsHub(StateView(), ApiMetrics(), heartbeat_s=10, heartbeat_misses=2, batch_s=0.05,
                max_pending_bytes=1 << 20, resume_buffer=resume_buffer)
    for i in range(changes):
        hub.on_change(f"svc-{i}", {"service": f"svc-{i}"})
        hub.flush()
    return hub


def seqs(frames: list[bytes]) -> list[int]:
    return [codec.loads(frame)["seq"] for frame in frames]


def test_a_client_that_saw_everything_resumes_with_nothing_to_replay():
    assert hub_after_changes(5, resume_buffer=10)._replay_after(5) == []


def test_a_client_resumes_with_exactly_the_updates_after_its_last_seq():
    hub = hub_after_changes(8, resume_buffer=10)
    assert seqs(hub._replay_after(5)) == [6, 7, 8]
    assert seqs(hub._replay_after(0)) == list(range(1, 9))


def test_a_gap_older_than_the_resume_buffer_asks_for_a_snapshot():
    hub = hub_after_changes(8, resume_buffer=3)  # seq 6, 7, 8 kept
    assert seqs(hub._replay_after(5)) == [6, 7, 8]
    assert hub._replay_after(4) is None


def test_a_seq_from_the_future_asks_for_a_snapshot():
    # e.g. a client of a gateway that restarted and counts from 0 again
    assert hub_after_changes(3, resume_buffer=10)._replay_after(4) is None
    assert hub_after_changes(0, resume_buffer=10)._replay_after(1) is None


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def failing():
    raise OSError("connection refused")


async def answering():
    return "ok"


def breaker_with_clock(states: list[tuple[str, str]] | None = None) -> tuple[DependencyBreaker, Clock]:
    clock = Clock()
    on_state = (lambda dependency, state: states.append((dependency, state))) if states is not None else None
    return DependencyBreaker("kafka", failure_threshold=3, reset_timeout_s=5.0, clock=clock, on_state=on_state), clock


async def fail(breaker: DependencyBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(DependencyUnavailable):
            await breaker.call(failing, 1.0)


def test_the_gateway_breaker_opens_after_consecutive_failures_and_refuses_until_its_timeout():
    async def scenario():
        states: list[tuple[str, str]] = []
        breaker, clock = breaker_with_clock(states)
        await fail(breaker, 3)
        assert breaker.state == OPEN and states == [("kafka", OPEN)]

        clock.now += 2.0
        with pytest.raises(DependencyUnavailable) as refused:
            await breaker.call(answering, 1.0)
        assert refused.value.retry_after_s == pytest.approx(3.0)
        assert not refused.value.__cause__  # refused without calling

        clock.now += 3.0
        assert await breaker.call(answering, 1.0) == "ok"
        assert breaker.state == CLOSED and states == [("kafka", OPEN), ("kafka", HALF_OPEN), ("kafka", CLOSED)]
    asyncio.run(scenario())


def test_a_failed_trial_opens_the_gateway_breaker_again_for_a_whole_timeout():
    async def scenario():
        breaker, clock = breaker_with_clock()
        await fail(breaker, 3)
        clock.now += 5.0
        await fail(breaker, 1)
        assert breaker.state == OPEN and breaker.retry_after_s() == pytest.approx(5.0)
    asyncio.run(scenario())


def test_successes_in_between_reset_the_count_of_consecutive_failures():
    async def scenario():
        breaker, _clock = breaker_with_clock()
        await fail(breaker, 2)
        await breaker.call(answering, 1.0)
        await fail(breaker, 2)
        assert breaker.state == CLOSED and breaker.retry_after_s() == 0.0
    asyncio.run(scenario())


def test_only_one_trial_runs_at_a_time_in_half_open():
    async def scenario():
        breaker, clock = breaker_with_clock()
        await fail(breaker, 3)
        clock.now += 5.0
        release = asyncio.Event()

        async def slow():
            await release.wait()
            return "late"

        trial = asyncio.create_task(breaker.call(slow, 1.0))
        await asyncio.sleep(0)
        with pytest.raises(DependencyUnavailable):
            await breaker.call(answering, 1.0)
        release.set()
        assert await trial == "late" and breaker.state == CLOSED
    asyncio.run(scenario())
