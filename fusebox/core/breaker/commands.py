"""Commands: a config update, a reset, a tick; each answered by a CommandResult.

The command types are named once, in `fusebox.core.commands`.
"""
from __future__ import annotations

from typing import Any

from fusebox.core.commands import BREAKER_RESET, CONFIG_UPDATE, TICK
from fusebox.core.isotime import iso_ms, iso_or_none
from fusebox.core.rules import config_issues
from fusebox.core.breaker.state import CLOSED, DEFAULT_REQUEST_LIMIT, HALF_OPEN, OPEN, BreakerState
from fusebox.core.breaker.transitions import (Emitted, advance, close_circuit, half_open, healthy_wake, open_circuit, settle,
                          start_healthy_period, touch)

COMMAND_RESULTS = "command-results"


def config_of(s: BreakerState) -> dict[str, Any]:
    return {"failureThreshold": s.failure_threshold, "resetTimeoutMs": s.reset_timeout_ms,
            "minHealthyPeriodMs": s.min_healthy_period_ms, "requestLimit": s.request_limit}


def _on_config_update(s: BreakerState, payload: Any) -> tuple[bool, dict | None, dict | None]:
    issues = config_issues(payload, "payload.")
    if issues:
        return False, None, {"code": "VALIDATION_FAILED",
                             "message": "; ".join(f"{i['field']} {i['issue']}" for i in issues)}
    before, transitions = config_of(s), s.transitions
    s.failure_threshold = payload["failureThreshold"]
    s.reset_timeout_ms = payload["resetTimeoutMs"]
    s.min_healthy_period_ms = payload["minHealthyPeriodMs"]
    s.request_limit = payload.get("requestLimit")
    after = config_of(s)
    # The rules are conditions on the state: re-evaluate them now under the new config.
    if s.circuit == CLOSED:
        if s.failure_count >= s.failure_threshold:
            open_circuit(s, True)
        elif s.wake is not None:
            s.wake = healthy_wake(s)
    elif s.circuit == HALF_OPEN:
        if s.trial_successes >= (s.request_limit or DEFAULT_REQUEST_LIMIT):
            close_circuit(s)
    else:
        s.wake = s.opened_at + s.reset_timeout_ms
        if s.wake <= s.now:
            half_open(s)
    return after != before or s.transitions != transitions, {"config": after}, None


def _on_reset(s: BreakerState, payload: Any) -> tuple[bool, dict | None, dict | None]:
    previous = {"failureCount": s.failure_count, "lastFailure": iso_or_none(s.last_failure),
                "totalIncidents": s.total_incidents}
    if payload.get("force") is True:
        close_circuit(s)
        s.last_failure = None
    elif s.circuit == OPEN:
        half_open(s)  # a trial now, skipping the rest of the timeout
    else:
        s.failure_count = 0
        s.last_failure = None
        s.trial_successes = 0
        if s.circuit == CLOSED:
            start_healthy_period(s)
    return True, {"previousState": previous, "state": s.circuit}, None


def _on_tick(s: BreakerState, payload: Any) -> tuple[bool, dict | None, dict | None]:
    return False, {"state": s.circuit}, None


_COMMANDS = {
    CONFIG_UPDATE: _on_config_update,
    BREAKER_RESET: _on_reset,
    TICK: _on_tick,
}


def on_command(s: BreakerState, body: dict, out: Emitted) -> None:
    t = body["issuedAt"]
    changed = False
    if s.now is None:
        s.now = s.status_since = t
    elif t > s.now:
        changed = advance(s, t, out)
    kind = body.get("type")
    handler = _COMMANDS.get(kind)
    if handler is None:
        result, error = None, {"code": "VALIDATION_FAILED", "message": f"unknown command type {kind!r}"}
    else:
        applied, result, error = handler(s, body.get("payload") or {})
        changed = changed or applied
    if changed:
        touch(s)
    settle(s, s.now, out)
    reply: dict[str, Any] = {"commandId": body.get("commandId"), "service": s.service, "type": kind,
                             "ok": error is None, "appliedAt": iso_ms(t)}
    if error is None:
        reply["result"] = result
    else:
        reply["error"] = error
    out.append((COMMAND_RESULTS, reply))
