"""Commands: a config update, a reset, a tick, a shadow config set, cleared or promoted; each
answered by a CommandResult.

The command types are named once, in `fusebox.core.commands`.
"""
from __future__ import annotations

from typing import Any

from fusebox.core.commands import BREAKER_RESET, CONFIG_UPDATE, SHADOW_CLEAR, SHADOW_PROMOTE, SHADOW_SET, TICK
from fusebox.core.rollups import RollupState
from fusebox.core.isotime import iso_ms, iso_or_none
from fusebox.core.rules import config_issues
from fusebox.core.breaker.state import CLOSED, DEFAULT_REQUEST_LIMIT, HALF_OPEN, OPEN, BreakerState, copy_state
from fusebox.core.breaker import trip
from fusebox.core.breaker.transitions import (BREAKER_TRANSITIONS, FORCED_RESET, MANUAL_RESET, RESET_TIMEOUT_ELAPSED,
                                              TRIAL_SUCCEEDED, Emitted, Trigger, advance, close_circuit, half_open,
                                              healthy_wake, open_circuit, settle, start_healthy_period, touch)

COMMAND_RESULTS = "command-results"
NO_SHADOW_CONFIG = "NO_SHADOW_CONFIG"  # a promote with no shadow config set


# The trip rules' wire names and the state fields that hold them, in wire order; a rule not
# configured is absent from the config, so a config of the seed's fields reads as before.
TRIP_RULE_FIELDS = (
    ("failureRateThreshold", "failure_rate_threshold"),
    ("slowCallRateThreshold", "slow_call_rate_threshold"),
    ("slowCallDurationMs", "slow_call_duration_ms"),
    ("slidingWindowType", "sliding_window_type"),
    ("slidingWindowSize", "sliding_window_size"),
    ("minimumNumberOfCalls", "minimum_number_of_calls"),
    ("minFailingInstances", "min_failing_instances"),
)


def config_of(s: BreakerState) -> dict[str, Any]:
    config = {"failureThreshold": s.failure_threshold, "resetTimeoutMs": s.reset_timeout_ms,
              "minHealthyPeriodMs": s.min_healthy_period_ms, "requestLimit": s.request_limit}
    for wire, field in TRIP_RULE_FIELDS:
        value = getattr(s, field)
        if value is not None:
            config[wire] = value
    return config


def _window_shape(s: BreakerState) -> tuple:
    return (trip.windowed(s), trip.rate_rules(s), s.sliding_window_type, s.sliding_window_size, s.request_limit,
            s.slow_call_rate_threshold is not None and trip.slow_call_duration_ms(s))


def _on_config_update(s: BreakerState, payload: Any, trigger: Trigger,
                      out: Emitted) -> tuple[bool, dict | None, dict | None]:
    issues = config_issues(payload, "payload.")
    if issues:
        return False, None, {"code": "VALIDATION_FAILED",
                             "message": "; ".join(f"{i['field']} {i['issue']}" for i in issues)}
    before, transitions = config_of(s), s.transitions
    s.failure_threshold = payload["failureThreshold"]
    s.reset_timeout_ms = payload["resetTimeoutMs"]
    s.min_healthy_period_ms = payload["minHealthyPeriodMs"]
    s.request_limit = payload.get("requestLimit")
    shape = _window_shape(s)
    for wire, field in TRIP_RULE_FIELDS:
        setattr(s, field, payload.get(wire))
    after = config_of(s)
    # A window of another shape starts empty: its calls were counted under other rules.
    if _window_shape(s) != shape or (s.window is None) == trip.windowed(s):
        if s.circuit == HALF_OPEN:
            s.window = trip.trial_window(s)
        elif s.circuit == CLOSED:
            s.window = trip.closed_window(s)
        else:
            s.window = trip.closed_window(s)
    # The rules are conditions on the state: re-evaluate them now under the new config.
    if s.circuit == CLOSED:
        verdict = trip.judge_closed(s) if s.window is not None else (
            (trip.CONSECUTIVE_FAILURES, s.failure_threshold, None) if s.failure_count >= s.failure_threshold else None)
        if verdict is not None:
            rule, threshold, minimum = verdict
            open_circuit(s, True, rule, trigger, out, threshold, minimum)
        elif s.wake is not None:
            s.wake = healthy_wake(s)
    elif s.circuit == HALF_OPEN:
        if s.trial_successes >= (s.request_limit or DEFAULT_REQUEST_LIMIT) and not trip.rate_rules(s):
            close_circuit(s, TRIAL_SUCCEEDED, trigger, out)
    else:
        s.wake = s.opened_at + s.reset_timeout_ms
        if s.wake <= s.now:
            half_open(s, RESET_TIMEOUT_ELAPSED, trigger, out)
    return after != before or s.transitions != transitions, {"config": after}, None


def _on_reset(s: BreakerState, payload: Any, trigger: Trigger,
              out: Emitted) -> tuple[bool, dict | None, dict | None]:
    previous = {"failureCount": s.failure_count, "lastFailure": iso_or_none(s.last_failure),
                "totalIncidents": s.total_incidents}
    if payload.get("force") is True:
        close_circuit(s, FORCED_RESET, trigger, out)
        s.last_failure = None
        s.recent_errors = []
        s.failing_instances = []
    elif s.circuit == OPEN:
        half_open(s, MANUAL_RESET, trigger, out)  # a trial now, skipping the rest of the timeout
    else:
        s.failure_count = 0
        s.last_failure = None
        s.trial_successes = 0
        s.recent_errors = []
        s.failing_instances = []
        if s.window is not None:
            s.window = trip.closed_window(s) if s.circuit == CLOSED else trip.trial_window(s)
        if s.circuit == CLOSED:
            start_healthy_period(s)
    return True, {"previousState": previous, "state": s.circuit}, None


def _on_tick(s: BreakerState, payload: Any, trigger: Trigger,
             out: Emitted) -> tuple[bool, dict | None, dict | None]:
    return False, {"state": s.circuit}, None


def mark_shadow(shadow: BreakerState, emitted: Emitted, out: Emitted) -> None:
    """Append the shadow breaker's transitions of `emitted` to `out`, each marked `"shadow": true`.

    Only its transitions leave the shadow: its health history, rollups and command results
    would repeat the real breaker's traffic under another config."""
    for topic, value in emitted:
        if topic == BREAKER_TRANSITIONS:
            marked = {**value, "shadow": True}
            if shadow.last_transition is value:
                shadow.last_transition = marked
            out.append((topic, marked))


def _on_shadow_set(s: BreakerState, payload: Any, trigger: Trigger,
                   out: Emitted) -> tuple[bool, dict | None, dict | None]:
    config = {**config_of(s), **payload}
    if config.get("requestLimit") is None:
        config.pop("requestLimit", None)
    issues = config_issues(config, "payload.")
    if issues:
        return False, None, {"code": "VALIDATION_FAILED",
                             "message": "; ".join(f"{i['field']} {i['issue']}" for i in issues)}
    # The shadow starts where the real breaker stands, then judges it under the candidate config.
    shadow = copy_state(s)
    shadow.shadow = None
    shadow.rollups = RollupState()
    source, offset, _body = trigger
    shadow.offsets[source] = offset
    emitted: Emitted = []
    _on_config_update(shadow, config, trigger, emitted)
    mark_shadow(shadow, emitted, out)
    s.shadow = shadow
    return True, {"shadow": {"config": config_of(shadow)}}, None


def _on_shadow_clear(s: BreakerState, payload: Any, trigger: Trigger,
                     out: Emitted) -> tuple[bool, dict | None, dict | None]:
    had = s.shadow is not None
    s.shadow = None
    return had, {"cleared": had}, None


def _on_shadow_promote(s: BreakerState, payload: Any, trigger: Trigger,
                       out: Emitted) -> tuple[bool, dict | None, dict | None]:
    if s.shadow is None:
        return False, None, {"code": NO_SHADOW_CONFIG, "message": f"{s.service!r} has no shadow config to promote"}
    config = config_of(s.shadow)
    if config.get("requestLimit") is None:
        config.pop("requestLimit")
    s.shadow = None
    _applied, result, error = _on_config_update(s, config, trigger, out)
    return True, result, error


_COMMANDS = {
    CONFIG_UPDATE: _on_config_update,
    BREAKER_RESET: _on_reset,
    TICK: _on_tick,
    SHADOW_SET: _on_shadow_set,
    SHADOW_CLEAR: _on_shadow_clear,
    SHADOW_PROMOTE: _on_shadow_promote,
}


def on_command(s: BreakerState, body: dict, out: Emitted, trigger: Trigger) -> None:
    t = body["issuedAt"]
    changed = False
    if s.now is None:
        s.now = s.status_since = t
    elif t > s.now:
        changed = advance(s, t, out, trigger)
    kind = body.get("type")
    handler = _COMMANDS.get(kind)
    if handler is None:
        result, error = None, {"code": "VALIDATION_FAILED", "message": f"unknown command type {kind!r}"}
    else:
        applied, result, error = handler(s, body.get("payload") or {}, trigger, out)
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
