"""The circuit's transitions and the status derived from it: the rules every event goes through.

Each function changes the state it is given (a copy the fold owns) and appends what it emits.
Every change of circuit state emits a BreakerTransition (`"breaker-transitions"`) naming the
rule that made it and the event that triggered it (`Trigger`: its source, offset and body).
"""
from __future__ import annotations

from typing import Any

from fusebox.core.isotime import iso_ms
from fusebox.core.breaker import trip
from fusebox.core.breaker import window as _window
from fusebox.core.breaker.state import (CLOSED, DEFAULT_REQUEST_LIMIT, DEGRADED, FAILED, HALF_OPEN, HEALTHY, OPEN,
                                        BreakerState)

HEALTH_HISTORY = "health-history"
BREAKER_TRANSITIONS = "breaker-transitions"

# The cause's rules that are not trip rules (fusebox.core.breaker.trip names those).
RESET_TIMEOUT_ELAPSED = "reset-timeout-elapsed"
TRIAL_SUCCEEDED = "trial-succeeded"
MANUAL_RESET = "manual-reset"
FORCED_RESET = "forced-reset"

RECENT_KEPT = 5  # distinct error strings and failing instances a state remembers
ERROR_KEPT_CHARS = 200

Emitted = list[tuple[str, dict[str, Any]]]
Trigger = tuple[str, int, dict]  # (source, offset, body) of the event being folded


def _transition(s: BreakerState, to: str, rule: str, trigger: Trigger, out: Emitted,
                threshold: int | None = None, minimum: int | None = None, trial_rule: str | None = None) -> None:
    """Emit the BreakerTransition of the move about to be made (`s` still in its `from` state)."""
    record = {"service": s.service, "from": s.circuit, "to": to, "at": iso_ms(s.now), "seq": s.transitions + 1,
              "cause": trip.cause_of(s, rule, trigger, threshold, minimum, trial_rule)}
    s.last_transition = record
    out.append((BREAKER_TRANSITIONS, record))


def open_circuit(s: BreakerState, new_incident: bool, rule: str, trigger: Trigger, out: Emitted,
                 threshold: int | None = None, minimum: int | None = None, trial_rule: str | None = None) -> None:
    _transition(s, OPEN, rule, trigger, out, threshold, minimum, trial_rule)
    s.circuit = OPEN
    s.opened_at = s.now
    s.wake = s.now + s.reset_timeout_ms
    s.trial_successes = 0
    s.transitions += 1
    if new_incident:
        s.total_incidents += 1
        s.fresh_incident = True


def half_open(s: BreakerState, rule: str, trigger: Trigger, out: Emitted) -> None:
    _transition(s, HALF_OPEN, rule, trigger, out)
    if s.window is not None:
        s.window = trip.trial_window(s)
    s.circuit = HALF_OPEN
    s.recovery_attempts += 1
    s.trial_successes = 0
    s.wake = None
    s.transitions += 1


def close_circuit(s: BreakerState, rule: str, trigger: Trigger, out: Emitted) -> None:
    """Closed after a recovery or a reset: the min-healthy period starts now, with a fresh window."""
    if s.circuit != CLOSED:
        _transition(s, CLOSED, rule, trigger, out)
        s.transitions += 1
        s.recent_errors = []
        s.failing_instances = []
    if s.window is not None:
        s.window = trip.closed_window(s)
    s.circuit = CLOSED
    s.failure_count = 0
    s.recovery_attempts = 0
    s.opened_at = None
    s.trial_successes = 0
    start_healthy_period(s)


def start_healthy_period(s: BreakerState) -> None:
    s.recovered_at = s.now
    s.wake = healthy_wake(s)


def healthy_wake(s: BreakerState) -> int | None:
    end = s.recovered_at + s.min_healthy_period_ms
    return end if end > s.now else None


def status_of(s: BreakerState) -> str:
    circuit = s.circuit
    if circuit == OPEN:
        return FAILED
    if circuit == CLOSED and not s.failure_count and s.wake is None:
        return HEALTHY
    return DEGRADED


def settle(s: BreakerState, at: int, out: Emitted) -> None:
    """Derive the status; when it changed at `at`, emit the period that just ended."""
    status = status_of(s)
    if status == s.status:
        return
    if s.seq == 0 and at == s.status_since:  # the first event set the first status: no period ended
        s.status = status
        s.period_transition = _opening_seq(s, status)
        if s.fresh_incident:
            s.period_incidents += 1
            s.fresh_incident = False
        return
    s.seq += 1
    entry = {
        "service": s.service,
        "seq": s.seq,
        "timestamp": iso_ms(s.status_since),
        "status": s.status,
        "duration": at - s.status_since,
        "incidents": s.period_incidents,
        "metrics": snapshot(s),
    }
    if s.period_transition is not None:
        entry["transitionSeq"] = s.period_transition
    out.append((HEALTH_HISTORY, entry))
    s.status = status
    s.status_since = at
    s.period_transition = _opening_seq(s, status)
    s.period_incidents = 1 if s.fresh_incident else 0
    s.fresh_incident = False


def _opening_seq(s: BreakerState, status: str) -> int | None:
    """The seq of the transition into open that a failed period begins with (failed is open, so
    it is the last one made); None for other periods and for a circuit opened before transitions
    were recorded."""
    last = s.last_transition
    if status == FAILED and last is not None and last["to"] == OPEN:
        return last["seq"]
    return None


def snapshot(s: BreakerState) -> dict[str, Any]:
    return {
        "operations": {"total": s.successful + s.failed, "successful": s.successful,
                       "failed": s.failed, "rejected": s.rejected},
        "failureCount": s.failure_count,
        "circuitState": s.circuit,
        "recoveryAttempts": s.recovery_attempts,
        "totalIncidents": s.total_incidents,
    }


def advance(s: BreakerState, t: int, out: Emitted, trigger: Trigger) -> bool:
    """Move the clock to `t`, first applying a time-driven change due on the way; True if one was."""
    wake = s.wake
    if wake is None or wake > t:
        s.now = t
        return False
    s.now = wake
    if s.circuit == OPEN:
        half_open(s, RESET_TIMEOUT_ELAPSED, trigger, out)
    else:
        s.wake = None  # closed: the min-healthy period is over
    settle(s, wake, out)
    s.now = t
    return True


def touch(s: BreakerState) -> None:
    s.version += 1
    s.updated_at = s.now


def count_failure(s: BreakerState, t: int, body: dict) -> None:
    s.failure_count += 1
    if s.last_failure is None or t > s.last_failure:
        s.last_failure = t
    error = body.get("error")
    if error is not None:
        _remember(s.recent_errors, error[:ERROR_KEPT_CHARS])
    instance = body.get("instance")
    if instance is not None:
        _remember(s.failing_instances, instance)


def _remember(recent: list[str], value: str) -> None:
    """Keep `value` as the newest of the RECENT_KEPT distinct values in `recent`."""
    if recent and recent[-1] == value:
        return
    if value in recent:
        recent.remove(value)
    elif len(recent) >= RECENT_KEPT:
        del recent[0]
    recent.append(value)


def windowed_call(s: BreakerState, t: int, outcome: str, body: dict, trigger: Trigger, out: Emitted) -> None:
    """The circuit of a windowed breaker after one call (`outcome` success, failure or timeout)."""
    circuit = s.circuit
    if circuit != CLOSED and circuit != HALF_OPEN:
        return  # open: calls are not counted until it wakes into half-open
    failed = outcome != "success"
    if failed:
        count_failure(s, t, body)
    elif circuit == CLOSED:
        s.failure_count = 0
    _window.record(s.window, t, _window.code_of(outcome, body["latencyMs"], trip.slow_call_duration_ms(s)),
                   body.get("instance"))
    if circuit == CLOSED:
        verdict = trip.judge_closed(s)
        if verdict is not None:
            rule, threshold, minimum = verdict
            open_circuit(s, True, rule, trigger, out, threshold, minimum)
        return
    limit = s.request_limit or DEFAULT_REQUEST_LIMIT
    if not trip.rate_rules(s):  # the seed's half-open: the first failure fails the trial
        if failed:
            open_circuit(s, False, trip.TRIAL_FAILED, trigger, out, None, None)
            return
        s.trial_successes += 1
        if s.trial_successes >= limit:
            close_circuit(s, TRIAL_SUCCEEDED, trigger, out)
        return
    if not failed:
        s.trial_successes += 1
    if failed and s.failure_rate_threshold is None:
        open_circuit(s, False, trip.TRIAL_FAILED, trigger, out, None, None)
        return
    if s.window["calls"] < limit:
        return
    verdict = trip.judge_trials(s)
    if verdict is None:
        close_circuit(s, TRIAL_SUCCEEDED, trigger, out)
    else:
        _rule, threshold, minimum = verdict
        open_circuit(s, False, trip.TRIAL_FAILED, trigger, out, threshold, minimum, verdict[0])

