"""`fold`: one event into a new state, the rules written out plainly.

This is the fold to read. `fold_batch` (batch.py) applies the same rules to many events at
once, faster; `tests/unit/test_breaker_properties.py` holds the two equal, state and emitted
items, over random logs.
"""
from __future__ import annotations

from fusebox.core import rollups as _rollups
from fusebox.core.breaker.commands import on_command
from fusebox.core.breaker.state import CLOSED, DEFAULT_REQUEST_LIMIT, HALF_OPEN, BreakerState, copy_state
from fusebox.core.breaker.transitions import (TRIAL_SUCCEEDED, Emitted, advance, close_circuit, count_failure,
                                              open_circuit, settle, touch, windowed_call)
from fusebox.core.breaker.trip import CONSECUTIVE_FAILURES, TRIAL_FAILED


def fold(state: BreakerState, source: str, offset: int, body: dict,
         rollups: bool = True) -> tuple[BreakerState, Emitted]:
    """Fold one event (an outcome, or a command) from `source` at `offset`."""
    s = copy_state(state)
    out: Emitted = []
    if offset <= s.offsets.get(source, -1):
        return s, out  # already applied: redelivery
    s.offsets[source] = offset
    if body.get("outcome") is None:
        if rollups:
            _close_minutes(s, body["issuedAt"], out)
        on_command(s, body, out, (source, offset, body))
    else:
        _on_outcome(s, body, rollups, out, (source, offset, body))
    return s, out


def _close_minutes(s: BreakerState, t: int, out: Emitted) -> None:
    """Emit the metric rollups whose minutes the clock passes at `t`."""
    due = s.rollups.due
    if due is not None and t >= due:
        _rollups.advance(s.rollups, t, s.service, out)


def _on_outcome(s: BreakerState, body: dict, rollups: bool, out: Emitted, trigger: tuple[str, int, dict]) -> None:
    t = body["ts"]
    outcome = body["outcome"]

    # Time: the largest event time seen. Moving it may first wake the breaker (open → half-open,
    # or the end of the min-healthy period) and close metric minutes.
    if s.now is None:
        s.now = s.status_since = t
    elif t > s.now:
        advance(s, t, out, trigger)
        if rollups:
            _close_minutes(s, t, out)
    touch(s)
    if rollups:
        minute = t - t % 60_000
        bucket = _rollups.bucket_for(s.rollups, minute, s.now, s.service, {}, out)
        _rollups.add(bucket, outcome, body["latencyMs"])

    # Counters. `rejected` was short-circuited by the client: not a call to the dependency.
    if outcome == "rejected":
        s.rejected += 1
        return
    if outcome == "success":
        s.successful += 1
    else:
        s.failed += 1
    if s.last_operation is None or t > s.last_operation:
        s.last_operation = t

    # The circuit: an open circuit ignores outcomes until it wakes into half-open. With a
    # windowed rule configured (trip.py), the window's rules decide instead of the seed's.
    if s.window is not None:
        windowed_call(s, t, outcome, body, trigger, out)
    elif outcome == "success":
        if s.circuit == CLOSED:
            s.failure_count = 0
        elif s.circuit == HALF_OPEN:
            s.trial_successes += 1
            if s.trial_successes >= (s.request_limit or DEFAULT_REQUEST_LIMIT):
                close_circuit(s, TRIAL_SUCCEEDED, trigger, out)
    elif s.circuit == CLOSED:
        count_failure(s, t, body)
        if s.failure_count >= s.failure_threshold:
            open_circuit(s, True, CONSECUTIVE_FAILURES, trigger, out, s.failure_threshold)
    elif s.circuit == HALF_OPEN:
        count_failure(s, t, body)
        open_circuit(s, False, TRIAL_FAILED, trigger, out)  # the trial failed: the same incident
    settle(s, s.now, out)
