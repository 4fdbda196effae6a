"""The trip rules beyond consecutive failures, and the cause every transition records.

With none of `failureRateThreshold`, `slowCallRateThreshold`, `minFailingInstances`
configured, a breaker has no window and follows the seed's rules alone (event.py, batch.py).
With one of them it is *windowed*: every call to the dependency is counted into a sliding
window (window.py), and `transitions.windowed_call` decides the circuit from the judgments
here, in both folds. The semantics, rule by
rule and side by side with resilience4j, Sentinel and Hystrix: docs/trip-rules.md.
"""
from __future__ import annotations

from typing import Any

from fusebox.core.breaker import window as _window
from fusebox.core.breaker.state import DEFAULT_REQUEST_LIMIT, HALF_OPEN, BreakerState

# resilience4j's defaults, used when a rate rule is configured without them.
DEFAULT_SLIDING_WINDOW_TYPE = _window.COUNT
DEFAULT_SLIDING_WINDOW_SIZE = 100
DEFAULT_MINIMUM_NUMBER_OF_CALLS = 100
DEFAULT_SLOW_CALL_DURATION_MS = 60_000

CONSECUTIVE_FAILURES = "consecutive-failures"
FAILURE_RATE = "failure-rate"
SLOW_CALL_RATE = "slow-call-rate"
TRIAL_FAILED = "trial-failed"


def windowed(s: BreakerState) -> bool:
    return (s.failure_rate_threshold is not None or s.slow_call_rate_threshold is not None
            or s.min_failing_instances is not None)


def rate_rules(s: BreakerState) -> bool:
    return s.failure_rate_threshold is not None or s.slow_call_rate_threshold is not None


def slow_call_duration_ms(s: BreakerState) -> int | None:
    if s.slow_call_rate_threshold is None:
        return None
    return s.slow_call_duration_ms if s.slow_call_duration_ms is not None else DEFAULT_SLOW_CALL_DURATION_MS


def closed_window(s: BreakerState) -> _window.Window | None:
    """A fresh window for the closed state under the current config (None when not windowed)."""
    if not windowed(s):
        return None
    return _window.new_window(s.sliding_window_type or DEFAULT_SLIDING_WINDOW_TYPE,
                              s.sliding_window_size or DEFAULT_SLIDING_WINDOW_SIZE)


def trial_window(s: BreakerState) -> _window.Window | None:
    """The half-open trials' window: the last `requestLimit` calls (resilience4j's
    permittedNumberOfCallsInHalfOpenState), or a fresh closed window without rate rules."""
    if not rate_rules(s):
        return closed_window(s)
    return _window.new_window(_window.COUNT, s.request_limit or DEFAULT_REQUEST_LIMIT)


def minimum_calls(s: BreakerState, window: _window.Window) -> int:
    """At least this many calls in the window before a rate is judged; in a count window never
    more than the window holds (as resilience4j caps minimumNumberOfCalls at slidingWindowSize)."""
    minimum = s.minimum_number_of_calls or DEFAULT_MINIMUM_NUMBER_OF_CALLS
    if window["type"] == _window.COUNT:
        return min(minimum, window["size"])
    return minimum


def _at_or_above(part: int, calls: int, threshold: int) -> bool:
    # part/calls*100 >= threshold, exactly (integers): a rate at its threshold trips, as in resilience4j.
    return part * 100 >= threshold * calls


def judge_closed(s: BreakerState) -> tuple[str, int | None, int | None] | None:
    """The rule that opens the closed circuit now, with its threshold and minimum calls, or None."""
    w = s.window
    if s.min_failing_instances is not None and _window.failing_instances(w) < s.min_failing_instances:
        return None
    if s.failure_count >= s.failure_threshold:
        return CONSECUTIVE_FAILURES, s.failure_threshold, None
    calls = w["calls"]
    minimum = minimum_calls(s, w)
    if calls < minimum:
        return None
    if s.failure_rate_threshold is not None and _at_or_above(w["failures"], calls, s.failure_rate_threshold):
        return FAILURE_RATE, s.failure_rate_threshold, minimum
    if s.slow_call_rate_threshold is not None and _at_or_above(w["slow"], calls, s.slow_call_rate_threshold):
        return SLOW_CALL_RATE, s.slow_call_rate_threshold, minimum
    return None


def judge_trials(s: BreakerState) -> tuple[str, int | None, int | None] | None:
    """With every trial call in: the rule the trials failed (circuit back to open), or None (closed)."""
    w = s.window
    calls = w["calls"]
    if s.failure_rate_threshold is not None and _at_or_above(w["failures"], calls, s.failure_rate_threshold):
        return FAILURE_RATE, s.failure_rate_threshold, calls
    if s.slow_call_rate_threshold is not None and _at_or_above(w["slow"], calls, s.slow_call_rate_threshold):
        return SLOW_CALL_RATE, s.slow_call_rate_threshold, calls
    return None


def window_view(s: BreakerState) -> dict[str, Any] | None:
    """ServiceState.window: the current window's figures and its per-instance counts, or None."""
    if s.window is None:
        return None
    seen = _window.as_of(s.window, s.now)
    view = _window.figures(seen)
    view["minimumNumberOfCalls"] = minimum_calls(s, seen) if s.circuit != HALF_OPEN or not rate_rules(s) \
        else seen["size"]
    view["instances"] = _window.instances_view(seen)
    return view


def cause_of(s: BreakerState, rule: str, trigger: tuple[str, int, dict], threshold: int | None,
             minimum: int | None, trial_rule: str | None) -> dict[str, Any]:
    """Why the circuit moves now: the rule, the figures it judged, and what was failing."""
    source, offset, body = trigger
    if s.window is not None:
        seen = _window.as_of(s.window, s.now)
        window = _window.figures(seen)
        window["instances"] = _window.instances_view(seen)
        failing = [entry["instance"] for entry in window["instances"]["top"] if entry["failures"]]
    else:
        window = None
        failing = list(s.failing_instances)
    return {
        "rule": rule,
        "trialRule": trial_rule,
        "threshold": threshold,
        "minimumNumberOfCalls": minimum,
        "consecutiveFailures": s.failure_count,
        "failureThreshold": s.failure_threshold,
        "window": window,
        "errors": list(s.recent_errors),
        "failingInstances": failing,
        "eventId": body.get("eventId"),
        "commandId": body.get("commandId"),
        "input": {"source": source, "offset": offset},
    }
