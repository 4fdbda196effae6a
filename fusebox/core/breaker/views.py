"""What others read of a state: the ServiceState wire object, the next deadline, circuit moves."""
from __future__ import annotations

from typing import Any

from fusebox.core.isotime import iso_or_none
from fusebox.core.breaker.commands import config_of
from fusebox.core.breaker.trip import window_view
from fusebox.core.breaker.state import CLOSED, BreakerState


def _own_deadline(state: BreakerState) -> int | None:
    wake = state.wake
    if wake is None or (state.circuit == CLOSED and state.failure_count):
        return None
    return wake


def next_deadline(state: BreakerState) -> int | None:
    """Epoch ms at which a tick would change the state or its shadow (half-open, or healthy), else None."""
    own = _own_deadline(state)
    if state.shadow is None:
        return own
    shadow = _own_deadline(state.shadow)
    if own is None or shadow is None:
        return own if shadow is None else shadow
    return min(own, shadow)


def shadow_view(state: BreakerState) -> dict[str, Any] | None:
    """ServiceState.shadow: the shadow breaker's config and circuit (docs/shadow-config.md), or None."""
    shadow = state.shadow
    if shadow is None:
        return None
    return {"config": config_of(shadow), "state": shadow.circuit, "failureCount": shadow.failure_count,
            "lastTransition": shadow.last_transition}


def changed_circuit(old_state: BreakerState, new_state: BreakerState) -> bool:
    """True when the circuit changed state between `old_state` and `new_state` (even there and back)."""
    return old_state.transitions != new_state.transitions or old_state.circuit != new_state.circuit


def to_service_state(state: BreakerState) -> dict[str, Any]:
    """The ServiceState wire object: what breaker-states carries and the API serves."""
    s = state
    total = s.successful + s.failed
    return {
        "service": s.service,
        "status": s.status,
        "circuit": {
            "state": s.circuit,
            "failureCount": s.failure_count,
            "lastFailure": iso_or_none(s.last_failure),
            "recoveryAttempts": s.recovery_attempts,
            "totalIncidents": s.total_incidents,
            "openedAt": iso_or_none(s.opened_at),
        },
        "operations": {
            "total": total,
            "successful": s.successful,
            "failed": s.failed,
            "successRate": s.successful / total if total else 1.0,
            "lastOperation": iso_or_none(s.last_operation),
            "rejected": s.rejected,
        },
        "config": config_of(s),
        "version": s.version,
        "updatedAt": iso_or_none(s.updated_at),
        "statusSince": iso_or_none(s.status_since),
        "nextDeadline": next_deadline(s),
        "lastTransition": s.last_transition,
        "window": window_view(s),
        **({} if s.shadow is None else {"shadow": shadow_view(s)}),
    }
