"""The circuit's transitions and the status derived from it: the rules every event goes through.

Each function changes the state it is given (a copy the fold owns) and appends what it emits.
"""
from __future__ import annotations

from typing import Any

from fusebox.core.isotime import iso_ms
from fusebox.core.breaker.state import CLOSED, DEGRADED, FAILED, HALF_OPEN, HEALTHY, OPEN, BreakerState

HEALTH_HISTORY = "health-history"

Emitted = list[tuple[str, dict[str, Any]]]


def open_circuit(s: BreakerState, new_incident: bool) -> None:
    s.circuit = OPEN
    s.opened_at = s.now
    s.wake = s.now + s.reset_timeout_ms
    s.trial_successes = 0
    s.transitions += 1
    if new_incident:
        s.total_incidents += 1
        s.fresh_incident = True


def half_open(s: BreakerState) -> None:
    s.circuit = HALF_OPEN
    s.recovery_attempts += 1
    s.trial_successes = 0
    s.wake = None
    s.transitions += 1


def close_circuit(s: BreakerState) -> None:
    """Closed after a recovery or a reset: the min-healthy period starts now."""
    if s.circuit != CLOSED:
        s.transitions += 1
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
        if s.fresh_incident:
            s.period_incidents += 1
            s.fresh_incident = False
        return
    s.seq += 1
    out.append((HEALTH_HISTORY, {
        "service": s.service,
        "seq": s.seq,
        "timestamp": iso_ms(s.status_since),
        "status": s.status,
        "duration": at - s.status_since,
        "incidents": s.period_incidents,
        "metrics": snapshot(s),
    }))
    s.status = status
    s.status_since = at
    s.period_incidents = 1 if s.fresh_incident else 0
    s.fresh_incident = False


def snapshot(s: BreakerState) -> dict[str, Any]:
    return {
        "operations": {"total": s.successful + s.failed, "successful": s.successful,
                       "failed": s.failed, "rejected": s.rejected},
        "failureCount": s.failure_count,
        "circuitState": s.circuit,
        "recoveryAttempts": s.recovery_attempts,
        "totalIncidents": s.total_incidents,
    }


def advance(s: BreakerState, t: int, out: Emitted) -> bool:
    """Move the clock to `t`, first applying a time-driven change due on the way; True if one was."""
    wake = s.wake
    if wake is None or wake > t:
        s.now = t
        return False
    s.now = wake
    if s.circuit == OPEN:
        half_open(s)
    else:
        s.wake = None  # closed: the min-healthy period is over
    settle(s, wake, out)
    s.now = t
    return True


def touch(s: BreakerState) -> None:
    s.version += 1
    s.updated_at = s.now


def count_failure(s: BreakerState, t: int) -> None:
    s.failure_count += 1
    if s.last_failure is None or t > s.last_failure:
        s.last_failure = t
