"""The state of one service's breaker: its fields, declared once, and what is derived from them.

`FIELDS` names every field the stored record carries, with the value a new state starts with.
`new_state`, `clone_for_batch`, `copy_state`, `state_to_record` and `state_from_record` are all
derived from it, so adding a field is one line here. The copy functions are compiled from the
field list (as `dataclasses` compiles `__init__`): `fold_batch` clones once per service per
batch, and a loop over `setattr` there costs the fold a measurable share of its time.
"""
from __future__ import annotations

from typing import Any

from fusebox.core import rollups as _rollups
from fusebox.core.rollups import RollupState
from fusebox.core.breaker.window import copy_window

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
HEALTHY, DEGRADED, FAILED = "healthy", "degraded", "failed"

DEFAULT_FAILURE_THRESHOLD = 5
DEFAULT_RESET_TIMEOUT_MS = 30_000
DEFAULT_MIN_HEALTHY_PERIOD_MS = 60_000
DEFAULT_REQUEST_LIMIT = 1

# 2 added "rollups"; 3 the trip rules, the window, the recent errors and failing instances and
# the last transition (and the seq of the one that began the failed period); 4 the shadow breaker.
# An older record loads with those at their new-state values.
RECORD_FORMAT = 4

_NEW_DICT = object()  # a field whose new value is a fresh dict, and that a copy copies
_NEW_LIST = object()  # a field whose new value is a fresh list, and that a copy copies
_WINDOW = object()  # the window: None in a new state, deep-copied by a copy

# Every recorded field, in record order, with its value in a new state (`service` is given).
FIELDS: dict[str, Any] = {
    "service": None,
    "failure_threshold": DEFAULT_FAILURE_THRESHOLD,
    "reset_timeout_ms": DEFAULT_RESET_TIMEOUT_MS,
    "min_healthy_period_ms": DEFAULT_MIN_HEALTHY_PERIOD_MS,
    "request_limit": None,
    "circuit": CLOSED,
    "failure_count": 0,
    "last_failure": None,
    "recovery_attempts": 0,
    "total_incidents": 0,
    "opened_at": None,
    "trial_successes": 0,
    "recovered_at": None,
    "wake": None,
    "transitions": 0,
    "successful": 0,
    "failed": 0,
    "rejected": 0,
    "last_operation": None,
    "status": HEALTHY,
    "status_since": None,
    "seq": 0,
    "period_incidents": 0,
    "version": 0,
    "updated_at": None,
    "now": None,
    "offsets": _NEW_DICT,
    # The trip rules beyond the seed's (docs/trip-rules.md): None when not configured.
    "failure_rate_threshold": None,
    "slow_call_rate_threshold": None,
    "slow_call_duration_ms": None,
    "sliding_window_type": None,
    "sliding_window_size": None,
    "minimum_number_of_calls": None,
    "min_failing_instances": None,
    "window": _WINDOW,  # fusebox.core.breaker.window, when a windowed rule is configured
    "recent_errors": _NEW_LIST,  # the last few distinct `error` strings of failures, newest last
    "failing_instances": _NEW_LIST,  # the last few distinct instances that reported failures
    "last_transition": None,  # the last BreakerTransition (never changed once made)
    "period_transition": None,  # seq of the transition into open that began the current failed period
    # The shadow breaker (docs/shadow-config.md): a BreakerState of its own with the candidate config,
    # folded beside this one by fusebox.core.breaker.shadow and never enforced; None when none is set.
    # A copy shares it: no fold changes a shadow in place.
    "shadow": None,
}

_FIRST_FORMAT_3_FIELD = "failure_rate_threshold"

# The fields fold_batch keeps in local variables and stores back at the end (`store_locals`).
BATCH_LOCALS = ("now", "version", "updated_at", "successful", "failed", "rejected", "last_operation")

# Not recorded: `fresh_incident` lives within one event; `rollups` is recorded by fusebox.core.rollups.
_EXTRA = ("fresh_incident", "rollups")


class BreakerState:
    """Everything the fold knows about one service. Treat as immutable outside the fold.

    `wake` is the event time of the next time-driven change (open: openedAt + resetTimeoutMs;
    closed: the end of the min-healthy period after a recovery or reset), else None.
    `trial_successes` counts consecutive successes in half-open. `seq` counts ended status
    periods. `transitions` counts circuit state changes, so a batch can tell that the circuit
    moved even when it came back to where it was.
    """

    __slots__ = tuple(FIELDS) + _EXTRA

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BreakerState):
            return NotImplemented
        return state_to_record(self) == state_to_record(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"BreakerState({self.service!r}, circuit={self.circuit!r}, status={self.status!r}, "
                f"version={self.version})")


def _compile(name: str, params: str, lines: list[str], doc: str, names: dict[str, Any]):
    source = f"def {name}({params}):\n" + "".join(f"    {line}\n" for line in lines)
    namespace: dict[str, Any] = {}
    exec(source, names, namespace)  # noqa: S102 - the source is built from FIELDS above only
    function = namespace[name]
    function.__doc__ = doc
    function.__module__ = __name__
    return function


def _copy_lines(skip: tuple[str, ...]) -> list[str]:
    lines = ["c = _new(BreakerState)"]
    for field, default in FIELDS.items():
        if field in skip:
            continue
        if default is _WINDOW:
            lines.append(f"c.{field} = None if s.{field} is None else _copy_window(s.{field})")
        elif default is _NEW_DICT or default is _NEW_LIST:
            lines.append(f"c.{field} = s.{field}.copy()")
        else:
            lines.append(f"c.{field} = s.{field}")
    return lines + ["c.fresh_incident = False", "c.rollups = s.rollups.copy()", "return c"]


_GLOBALS = {"_new": object.__new__, "BreakerState": BreakerState, "RollupState": RollupState,
            "_copy_window": copy_window}


def _new_value(default: Any) -> str:
    if default is _NEW_DICT:
        return "{}"
    if default is _NEW_LIST:
        return "[]"
    if default is _WINDOW:
        return "None"
    return repr(default)


new_state = _compile(
    "new_state", "service",
    ["s = _new(BreakerState)", "s.service = service"]
    + [f"s.{field} = {_new_value(default)}"
       for field, default in FIELDS.items() if field != "service"]
    + ["s.fresh_incident = False", "s.rollups = RollupState()", "return s"],
    "A new service's state: closed, healthy, the default config, no events seen.",
    _GLOBALS)

clone_for_batch = _compile(
    "clone_for_batch", "s", _copy_lines(BATCH_LOCALS),
    "A copy for fold_batch to change, but for the BATCH_LOCALS it keeps in locals and stores back.",
    _GLOBALS)

copy_state = _compile(
    "copy_state", "s", _copy_lines(()),
    "A copy of every field, for a fold to change.",
    _GLOBALS)

store_locals = _compile(
    "store_locals", "s, " + ", ".join(BATCH_LOCALS),
    [f"s.{field} = {field}" for field in BATCH_LOCALS],
    "Store fold_batch's local copies of BATCH_LOCALS back into the state.",
    {})


# The fields a format-2 record already carries: every later one may be missing from an older record.
_FORMAT_2_FIELDS = frozenset(list(FIELDS)[:list(FIELDS).index(_FIRST_FORMAT_3_FIELD)])


def state_to_record(state: BreakerState) -> dict[str, Any]:
    """The whole state as JSON-safe values, for the aggregator's table."""
    record: dict[str, Any] = {name: getattr(state, name) for name in FIELDS}
    record["offsets"] = dict(state.offsets)
    record["window"] = None if state.window is None else copy_window(state.window)
    record["recent_errors"] = list(state.recent_errors)
    record["failing_instances"] = list(state.failing_instances)
    record["rollups"] = _rollups.to_record(state.rollups)
    record["shadow"] = None if state.shadow is None else state_to_record(state.shadow)
    record["format"] = RECORD_FORMAT
    return record


def state_from_record(record: dict[str, Any]) -> BreakerState:
    if record.get("format") not in (1, 2, 3, RECORD_FORMAT):
        raise ValueError(f"unsupported breaker state record format {record.get('format')!r}")
    s = new_state(record["service"])
    for name in FIELDS:
        if name in record or name in _FORMAT_2_FIELDS:
            setattr(s, name, record[name])
    s.offsets = dict(record["offsets"])
    s.shadow = None if record.get("shadow") is None else state_from_record(record["shadow"])
    s.fresh_incident = False
    s.rollups = _rollups.from_record(record.get("rollups"))
    return s
