"""The SDK's Breaker without Kafka: how it classifies finished calls and admits new ones."""
from __future__ import annotations

import asyncio
import time

import pytest

from fusebox.sdk.local_breaker import Breaker, BreakerHost, BreakerOpenError, TrialGate
from fusebox.sdk.states import LocalState


class Host:
    """A BreakerHost's parts, recording what the breaker asked of them."""

    def __init__(self, *, enforce: bool = True, live: bool = True) -> None:
        self.emitted: list[tuple[str, str, str | None]] = []
        self.states: dict[str, LocalState] = {}
        self.live = live
        self.rejected = 0
        self.fail_open = 0
        self.gate = TrialGate()
        self.host = BreakerHost(
            enforce=enforce, states=self.states, stream_live=lambda: self.live,
            trial_gate=lambda service: self.gate, emit=self._emit, append=self._append, instance="unit",
            count_rejected=self._count_rejected, count_fail_open=self._count_fail_open)

    def _emit(self, service: str, outcome: str, latency_ms: float, error: str | None) -> None:
        assert latency_ms >= 0
        self.emitted.append((service, outcome, error))

    def _append(self, outcome: tuple) -> None:
        service, kind, latency_ms, _ts, instance, error = outcome
        assert latency_ms >= 0 and instance == "unit"
        self.emitted.append((service, kind, error))

    def _count_rejected(self) -> None:
        self.rejected += 1

    def _count_fail_open(self) -> None:
        self.fail_open += 1

    def outcomes(self) -> list[tuple[str, str | None]]:
        return [(outcome, error) for _service, outcome, error in self.emitted]


class BusinessError(Exception):
    pass


class GatewayTimeout(Exception):
    pass


def raising(exc: BaseException):
    def call():
        raise exc
    return call


@pytest.mark.parametrize("exc, expected", [
    (None, ("success", None)),
    (ValueError("boom"), ("failure", "ValueError")),
    (TimeoutError(), ("timeout", "TimeoutError")),
    (GatewayTimeout(), ("timeout", f"{__name__}.GatewayTimeout")),
    (BusinessError(), ("success", None)),
])
def test_a_finished_call_is_classified_by_what_it_raised(exc, expected):
    # Given a breaker that excludes business errors and counts GatewayTimeout as a timeout
    host = Host()
    breaker = Breaker(host.host, "payments-api", timeout_exceptions=(GatewayTimeout,), exclude=(BusinessError,))

    # When a call returns or raises
    if exc is None:
        assert breaker.call(lambda: 42) == 42
    else:
        with pytest.raises(type(exc)):
            breaker.call(raising(exc))

    # Then one outcome is recorded, by the first rule that matches
    assert host.outcomes() == [expected]


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), asyncio.CancelledError(), SystemExit(1)])
def test_a_call_stopped_by_its_caller_is_not_recorded(exc):
    host = Host()
    with pytest.raises(type(exc)):
        Breaker(host.host, "payments-api").call(raising(exc))
    assert host.emitted == []


def test_a_call_slower_than_the_timeout_is_a_timeout_even_when_it_returns():
    host = Host()
    with Breaker(host.host, "payments-api", timeout=0.001):
        time.sleep(0.01)
    assert host.outcomes() == [("timeout", "SlowCall")]


def test_an_async_call_past_its_timeout_is_cancelled_and_recorded_as_a_timeout():
    host = Host()
    breaker = Breaker(host.host, "payments-api", timeout=0.01)

    async def slow():
        await asyncio.sleep(5)

    with pytest.raises(TimeoutError):
        asyncio.run(breaker.call_async(slow))
    assert host.outcomes() == [("timeout", "TimeoutError")]


def open_state(opened_ms_ago: int, reset_timeout_ms: int = 30_000, request_limit: int = 1) -> LocalState:
    return LocalState(circuit="open", opened_at_ms=int(time.time() * 1000) - opened_ms_ago,
                      reset_timeout_ms=reset_timeout_ms, request_limit=request_limit, version=3)


def test_an_open_breaker_rejects_before_its_reset_timeout_and_records_a_rejection():
    host = Host()
    host.states["payments-api"] = open_state(opened_ms_ago=1_000)
    breaker = Breaker(host.host, "payments-api")
    with pytest.raises(BreakerOpenError) as raised:
        breaker.call(lambda: None)
    assert raised.value.state == "open" and 28 < raised.value.retry_after_s <= 29
    assert host.outcomes() == [("rejected", "BreakerOpenError")] and host.rejected == 1


def test_past_its_reset_timeout_an_open_breaker_lets_request_limit_trials_through_at_once():
    # Given a breaker past its timeout, with one trial at a time
    host = Host()
    host.states["payments-api"] = open_state(opened_ms_ago=31_000)
    breaker = Breaker(host.host, "payments-api")

    # When a trial is running, a second call is rejected; once it ended, the next one is a trial again
    with breaker:
        with pytest.raises(BreakerOpenError) as raised:
            breaker.call(lambda: None)
        assert raised.value.state == "half-open"
    breaker.call(lambda: None)
    assert host.gate.running == 0
    assert host.outcomes() == [("rejected", "BreakerOpenError"), ("success", None), ("success", None)]


def test_when_the_state_stream_is_not_live_calls_pass_and_are_counted_as_fail_open():
    host = Host(live=False)
    host.states["payments-api"] = open_state(opened_ms_ago=0)
    Breaker(host.host, "payments-api").call(lambda: None)
    assert host.fail_open == 1 and host.outcomes() == [("success", None)]


def test_without_enforcement_an_open_breaker_only_records():
    host = Host(enforce=False)
    host.states["payments-api"] = open_state(opened_ms_ago=0)
    breaker = Breaker(host.host, "payments-api")
    breaker.call(lambda: None)
    assert host.outcomes() == [("success", None)] and host.fail_open == 0
    assert breaker.state == "open" and Breaker(host.host, "other").state == "unknown"
