"""The breaker fold: one service's circuit, status, counters and health history, from its log alone.

Pure: no clock, no I/O, no randomness. Time is the largest event time seen so far (an
outcome's `ts`, a command's `issuedAt`); an older event arriving late is counted but never
moves time back. Semantics, rule by rule: docs/breaker-semantics.md.

                      failureCount >= failureThreshold (a new incident)
          ┌────────┐ ─────────────────────────────────────────────────► ┌──────┐
          │ closed │                                                    │ open │
          └────────┘ ◄─────────────┐                                    └──────┘
              ▲     requestLimit   │       event time >= openedAt +      │   ▲
              │     consecutive    │       resetTimeoutMs, or            │   │ first failure or
              │     successes      │       reset(force=false)            ▼   │ timeout (same incident)
              │                    │                                ┌───────────┐
              │                    └─────────────────────────────── │ half-open │
              │                                                     └───────────┘
          reset(force=true), from any state

Public API:
    new_state(service) -> BreakerState
    fold(state, source, offset, body) -> (state, emitted)
    fold_batch(state, events) -> (state, emitted)          the aggregator's hot path
    to_service_state(state) -> dict                        the ServiceState wire object
    state_to_record(state) -> dict / state_from_record(record) -> BreakerState
    next_deadline(state) -> int | None                     when a tick would change something
    changed_circuit(old, new) -> bool                      did the circuit state move between the two
    circuit_state(state) -> str                            "closed" | "open" | "half-open"

`source` is a topic partition without the topic prefix ("call-outcomes:3"); an event whose
offset is at or below the last one applied from its source is skipped. Emitted items are
`(topic_suffix, value)` pairs, `"health-history"` or `"command-results"`, in the order they
happened, plus `"metric-rollups"` (closed minutes, fusebox.core.rollups) unless folded with
`rollups=False`. Neither `fold` nor `fold_batch` changes the state passed in.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fusebox.core import rollups as _rollups
from fusebox.core.isotime import iso_ms, iso_or_none
from fusebox.core.rollups import RollupState, add as _rollup_add, bucket_for as _bucket_for
from fusebox.core.rules import config_issues

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
HEALTHY, DEGRADED, FAILED = "healthy", "degraded", "failed"

HEALTH_HISTORY = "health-history"
COMMAND_RESULTS = "command-results"

DEFAULT_FAILURE_THRESHOLD = 5
DEFAULT_RESET_TIMEOUT_MS = 30_000
DEFAULT_MIN_HEALTHY_PERIOD_MS = 60_000
DEFAULT_REQUEST_LIMIT = 1

RECORD_FORMAT = 2  # 2 added "rollups"; a format-1 record loads with no open rollups

Emitted = list[tuple[str, dict[str, Any]]]

_FIELDS = (
    "service",
    "failure_threshold", "reset_timeout_ms", "min_healthy_period_ms", "request_limit",
    "circuit", "failure_count", "last_failure", "recovery_attempts", "total_incidents", "opened_at",
    "trial_successes", "recovered_at", "wake", "transitions",
    "successful", "failed", "rejected", "last_operation",
    "status", "status_since", "seq", "period_incidents",
    "version", "updated_at", "now",
    "offsets",
)


class BreakerState:
    """Everything the fold knows about one service. Treat as immutable outside this module.

    `wake` is the event time of the next time-driven change (open: openedAt + resetTimeoutMs;
    closed: the end of the min-healthy period after a recovery or reset), else None.
    `trial_successes` counts consecutive successes in half-open. `seq` counts ended status
    periods. `transitions` counts circuit state changes, so a batch can tell that the circuit
    moved even when it came back to where it was.
    """

    __slots__ = _FIELDS + ("fresh_incident", "rollups")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BreakerState):
            return NotImplemented
        return state_to_record(self) == state_to_record(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"BreakerState({self.service!r}, circuit={self.circuit!r}, status={self.status!r}, "
                f"version={self.version})")


def new_state(service: str) -> BreakerState:
    s = object.__new__(BreakerState)
    s.service = service
    s.failure_threshold = DEFAULT_FAILURE_THRESHOLD
    s.reset_timeout_ms = DEFAULT_RESET_TIMEOUT_MS
    s.min_healthy_period_ms = DEFAULT_MIN_HEALTHY_PERIOD_MS
    s.request_limit = None
    s.circuit = CLOSED
    s.failure_count = 0
    s.last_failure = None
    s.recovery_attempts = 0
    s.total_incidents = 0
    s.opened_at = None
    s.trial_successes = 0
    s.recovered_at = None
    s.wake = None
    s.transitions = 0
    s.successful = 0
    s.failed = 0
    s.rejected = 0
    s.last_operation = None
    s.status = HEALTHY
    s.status_since = None
    s.seq = 0
    s.period_incidents = 0
    s.version = 0
    s.updated_at = None
    s.now = None
    s.offsets = {}
    s.fresh_incident = False
    s.rollups = RollupState()
    return s


def _clone(s: BreakerState) -> BreakerState:
    """A copy for fold_batch to change, but for the fields it keeps in locals and `_store`s."""
    c = object.__new__(BreakerState)
    c.service = s.service
    c.failure_threshold = s.failure_threshold
    c.reset_timeout_ms = s.reset_timeout_ms
    c.min_healthy_period_ms = s.min_healthy_period_ms
    c.request_limit = s.request_limit
    c.circuit = s.circuit
    c.failure_count = s.failure_count
    c.last_failure = s.last_failure
    c.recovery_attempts = s.recovery_attempts
    c.total_incidents = s.total_incidents
    c.opened_at = s.opened_at
    c.trial_successes = s.trial_successes
    c.recovered_at = s.recovered_at
    c.wake = s.wake
    c.transitions = s.transitions
    c.status = s.status
    c.status_since = s.status_since
    c.seq = s.seq
    c.period_incidents = s.period_incidents
    c.offsets = s.offsets.copy()
    c.fresh_incident = False
    c.rollups = s.rollups.copy()
    return c


# --- transitions -------------------------------------------------------------------------

def _open(s: BreakerState, new_incident: bool) -> None:
    s.circuit = OPEN
    s.opened_at = s.now
    s.wake = s.now + s.reset_timeout_ms
    s.trial_successes = 0
    s.transitions += 1
    if new_incident:
        s.total_incidents += 1
        s.fresh_incident = True


def _half_open(s: BreakerState) -> None:
    s.circuit = HALF_OPEN
    s.recovery_attempts += 1
    s.trial_successes = 0
    s.wake = None
    s.transitions += 1


def _close(s: BreakerState) -> None:
    """Closed after a recovery or a reset: the min-healthy period starts now."""
    if s.circuit != CLOSED:
        s.transitions += 1
    s.circuit = CLOSED
    s.failure_count = 0
    s.recovery_attempts = 0
    s.opened_at = None
    s.trial_successes = 0
    _start_healthy_period(s)


def _start_healthy_period(s: BreakerState) -> None:
    s.recovered_at = s.now
    s.wake = _healthy_wake(s)


def _healthy_wake(s: BreakerState) -> int | None:
    end = s.recovered_at + s.min_healthy_period_ms
    return end if end > s.now else None


def _status_of(s: BreakerState) -> str:
    circuit = s.circuit
    if circuit == OPEN:
        return FAILED
    if circuit == CLOSED and not s.failure_count and s.wake is None:
        return HEALTHY
    return DEGRADED


def _settle(s: BreakerState, at: int, out: Emitted) -> None:
    """Derive the status; when it changed at `at`, emit the period that just ended."""
    status = _status_of(s)
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
        "metrics": _snapshot(s),
    }))
    s.status = status
    s.status_since = at
    s.period_incidents = 1 if s.fresh_incident else 0
    s.fresh_incident = False


def _snapshot(s: BreakerState) -> dict[str, Any]:
    return {
        "operations": {"total": s.successful + s.failed, "successful": s.successful,
                       "failed": s.failed, "rejected": s.rejected},
        "failureCount": s.failure_count,
        "circuitState": s.circuit,
        "recoveryAttempts": s.recovery_attempts,
        "totalIncidents": s.total_incidents,
    }


def _advance(s: BreakerState, t: int, out: Emitted) -> bool:
    """Move the clock to `t`, first applying a time-driven change due on the way; True if one was."""
    wake = s.wake
    if wake is None or wake > t:
        s.now = t
        return False
    s.now = wake
    if s.circuit == OPEN:
        _half_open(s)
    else:
        s.wake = None  # closed: the min-healthy period is over
    _settle(s, wake, out)
    s.now = t
    return True


def _touch(s: BreakerState) -> None:
    s.version += 1
    s.updated_at = s.now


# --- outcomes: handled inline in fold_batch, which runs for every event ---------------------

def _count_failure(s: BreakerState, t: int) -> None:
    s.failure_count += 1
    if s.last_failure is None or t > s.last_failure:
        s.last_failure = t


# --- commands ----------------------------------------------------------------------------

def _config_of(s: BreakerState) -> dict[str, Any]:
    return {"failureThreshold": s.failure_threshold, "resetTimeoutMs": s.reset_timeout_ms,
            "minHealthyPeriodMs": s.min_healthy_period_ms, "requestLimit": s.request_limit}


def _on_config_update(s: BreakerState, payload: Any) -> tuple[bool, dict | None, dict | None]:
    issues = config_issues(payload, "payload.")
    if issues:
        return False, None, {"code": "VALIDATION_FAILED",
                             "message": "; ".join(f"{i['field']} {i['issue']}" for i in issues)}
    before, transitions = _config_of(s), s.transitions
    s.failure_threshold = payload["failureThreshold"]
    s.reset_timeout_ms = payload["resetTimeoutMs"]
    s.min_healthy_period_ms = payload["minHealthyPeriodMs"]
    s.request_limit = payload.get("requestLimit")
    after = _config_of(s)
    # The rules are conditions on the state: re-evaluate them now under the new config.
    if s.circuit == CLOSED:
        if s.failure_count >= s.failure_threshold:
            _open(s, True)
        elif s.wake is not None:
            s.wake = _healthy_wake(s)
    elif s.circuit == HALF_OPEN:
        if s.trial_successes >= (s.request_limit or DEFAULT_REQUEST_LIMIT):
            _close(s)
    else:
        s.wake = s.opened_at + s.reset_timeout_ms
        if s.wake <= s.now:
            _half_open(s)
    return after != before or s.transitions != transitions, {"config": after}, None


def _on_reset(s: BreakerState, payload: Any) -> tuple[bool, dict | None, dict | None]:
    previous = {"failureCount": s.failure_count, "lastFailure": iso_or_none(s.last_failure),
                "totalIncidents": s.total_incidents}
    if payload.get("force") is True:
        _close(s)
        s.last_failure = None
    elif s.circuit == OPEN:
        _half_open(s)  # a trial now, skipping the rest of the timeout
    else:
        s.failure_count = 0
        s.last_failure = None
        s.trial_successes = 0
        if s.circuit == CLOSED:
            _start_healthy_period(s)
    return True, {"previousState": previous, "state": s.circuit}, None


def _on_tick(s: BreakerState, payload: Any) -> tuple[bool, dict | None, dict | None]:
    return False, {"state": s.circuit}, None


_COMMANDS = {
    "config.update": _on_config_update,
    "breaker.reset": _on_reset,
    "tick": _on_tick,
}


def _on_command(s: BreakerState, body: dict, out: Emitted) -> None:
    t = body["issuedAt"]
    changed = False
    if s.now is None:
        s.now = s.status_since = t
    elif t > s.now:
        changed = _advance(s, t, out)
    kind = body.get("type")
    handler = _COMMANDS.get(kind)
    if handler is None:
        result, error = None, {"code": "VALIDATION_FAILED", "message": f"unknown command type {kind!r}"}
    else:
        applied, result, error = handler(s, body.get("payload") or {})
        changed = changed or applied
    if changed:
        _touch(s)
    _settle(s, s.now, out)
    reply: dict[str, Any] = {"commandId": body.get("commandId"), "service": s.service, "type": kind,
                             "ok": error is None, "appliedAt": iso_ms(t)}
    if error is None:
        reply["result"] = result
    else:
        reply["error"] = error
    out.append((COMMAND_RESULTS, reply))


# --- the fold ----------------------------------------------------------------------------

def fold_batch(state: BreakerState, events: Iterable[tuple[str, int, dict]],
               rollups: bool = True) -> tuple[BreakerState, Emitted]:
    """Fold many events of one service (log order per source) into a new state.

    The outcome handler is inlined here, with the counters kept in local variables and
    stored back (`_store`) before anything else reads the state: this runs for every event.
    With `rollups`, outcomes are also counted into per-minute metric rollups (fusebox.core.rollups),
    and closed minutes are emitted as "metric-rollups" items.
    """
    s = _clone(state)
    out: Emitted = []
    service = s.service
    ro = s.rollups
    touched: dict[int, list] = {}  # the rollup buckets this batch owns, by minute
    offsets = s.offsets
    last_source = None
    last_offset = -1
    now, version, updated_at = state.now, state.version, state.updated_at
    successful, failed, rejected, last_op = state.successful, state.failed, state.rejected, state.last_operation
    for source, offset, body in events:
        if source != last_source:
            if last_source is not None:
                offsets[last_source] = last_offset
            last_source = source
            last_offset = offsets.get(source, -1)
        if offset <= last_offset:
            continue  # already applied: redelivery
        last_offset = offset
        outcome = body.get("outcome")
        if outcome is None:
            _store(s, now, version, updated_at, successful, failed, rejected, last_op)
            if rollups and ro.due is not None and body["issuedAt"] >= ro.due:
                _rollups.advance(ro, body["issuedAt"], service, out)
                touched.clear()
            _on_command(s, body, out)
            now, version, updated_at = s.now, s.version, s.updated_at
            continue

        t = body["ts"]
        if now is None:
            s.status_since = now = t
        elif t > now:
            wake = s.wake
            if wake is not None and wake <= t:
                _store(s, now, version, updated_at, successful, failed, rejected, last_op)
                _advance(s, t, out)
            now = t
            if rollups and ro.due is not None and t >= ro.due:
                _rollups.advance(ro, t, service, out)
                touched.clear()
        version += 1
        updated_at = now
        if rollups:
            minute = t - t % 60_000
            bucket = touched.get(minute)
            if bucket is None:
                bucket = _bucket_for(ro, minute, now, service, touched, out)
            _rollup_add(bucket, outcome, body["latencyMs"])
        # Only a change of circuit, failureCount or wake can change the status.
        if outcome == "success":
            successful += 1
            if last_op is None or t > last_op:
                last_op = t
            circuit = s.circuit
            if circuit == CLOSED:
                if s.failure_count:
                    s.failure_count = 0
                    _store(s, now, version, updated_at, successful, failed, rejected, last_op)
                    _settle(s, now, out)
            elif circuit == HALF_OPEN:
                s.trial_successes += 1
                if s.trial_successes >= (s.request_limit or DEFAULT_REQUEST_LIMIT):
                    _store(s, now, version, updated_at, successful, failed, rejected, last_op)
                    _close(s)
                    _settle(s, now, out)
        elif outcome == "rejected":
            rejected += 1  # short-circuited by the client: not a call to the dependency
        else:
            failed += 1
            if last_op is None or t > last_op:
                last_op = t
            circuit = s.circuit
            if circuit == CLOSED:
                _count_failure(s, t)
                if s.failure_count >= s.failure_threshold:
                    _store(s, now, version, updated_at, successful, failed, rejected, last_op)
                    _open(s, True)
                    _settle(s, now, out)
                elif s.failure_count == 1:
                    _store(s, now, version, updated_at, successful, failed, rejected, last_op)
                    _settle(s, now, out)
            elif circuit == HALF_OPEN:
                _count_failure(s, t)
                _store(s, now, version, updated_at, successful, failed, rejected, last_op)
                _open(s, False)
                _settle(s, now, out)
    if last_source is not None:
        offsets[last_source] = last_offset
    _store(s, now, version, updated_at, successful, failed, rejected, last_op)
    return s, out


def _store(s: BreakerState, now: int | None, version: int, updated_at: int | None, successful: int,
           failed: int, rejected: int, last_operation: int | None) -> None:
    s.now = now
    s.version = version
    s.updated_at = updated_at
    s.successful = successful
    s.failed = failed
    s.rejected = rejected
    s.last_operation = last_operation


def fold(state: BreakerState, source: str, offset: int, body: dict,
         rollups: bool = True) -> tuple[BreakerState, Emitted]:
    """Fold one event; the same as a batch of one."""
    return fold_batch(state, ((source, offset, body),), rollups)


# --- views -------------------------------------------------------------------------------

def next_deadline(state: BreakerState) -> int | None:
    """Epoch ms at which a tick would change the state (half-open, or healthy), else None."""
    wake = state.wake
    if wake is None or (state.circuit == CLOSED and state.failure_count):
        return None
    return wake


def changed_circuit(old_state: BreakerState, new_state: BreakerState) -> bool:
    """True when the circuit changed state between `old_state` and `new_state` (even there and back)."""
    return old_state.transitions != new_state.transitions or old_state.circuit != new_state.circuit


def circuit_state(state: BreakerState) -> str:
    return state.circuit


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
        "config": _config_of(s),
        "version": s.version,
        "updatedAt": iso_or_none(s.updated_at),
        "statusSince": iso_or_none(s.status_since),
        "nextDeadline": next_deadline(s),
    }


def state_to_record(state: BreakerState) -> dict[str, Any]:
    """The whole state as JSON-safe values, for the aggregator's table."""
    record: dict[str, Any] = {name: getattr(state, name) for name in _FIELDS}
    record["offsets"] = dict(state.offsets)
    record["rollups"] = _rollups.to_record(state.rollups)
    record["format"] = RECORD_FORMAT
    return record


def state_from_record(record: dict[str, Any]) -> BreakerState:
    if record.get("format") not in (1, RECORD_FORMAT):
        raise ValueError(f"unsupported breaker state record format {record.get('format')!r}")
    s = object.__new__(BreakerState)
    for name in _FIELDS:
        setattr(s, name, record[name])
    s.offsets = dict(record["offsets"])
    s.fresh_incident = False
    s.rollups = _rollups.from_record(record.get("rollups"))
    return s
