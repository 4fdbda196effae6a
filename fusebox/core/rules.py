"""Field rules of the contract as plain checks: each returns a list of `{"field", "issue"}`.

Pure Python with no imports beyond the standard library and the core, so that the breaker fold can share
them; `fusebox.core.validation` wraps them in `ValidationError`s. The JSON Schemas in
`schemas/` say the same thing and the unit tests hold the two together.
"""
from __future__ import annotations

import re
from typing import Any

from fusebox.core.commands import (BREAKER_RESET, COMMAND_TYPES, CONFIG_UPDATE, SHADOW_CLEAR, SHADOW_PROMOTE,
                                   SHADOW_SET, TICK)
from fusebox.core.isotime import MAX_EPOCH_MS

SERVICE_RE = re.compile(r"[A-Za-z0-9._:-]{1,200}")
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

OUTCOMES = frozenset({"success", "failure", "timeout", "rejected"})

CONFIG_RANGES: dict[str, tuple[int, int]] = {
    "failureThreshold": (1, 10_000),
    "resetTimeoutMs": (100, 86_400_000),
    "minHealthyPeriodMs": (0, 86_400_000),
    "requestLimit": (1, 10_000),
}
CONFIG_REQUIRED = ("failureThreshold", "resetTimeoutMs", "minHealthyPeriodMs")

# The trip rules beyond the seed's (docs/trip-rules.md): all optional, integers but the window type.
TRIP_RULE_RANGES: dict[str, tuple[int, int]] = {
    "failureRateThreshold": (1, 100),
    "slowCallRateThreshold": (1, 100),
    "slowCallDurationMs": (1, 86_400_000),
    "minimumNumberOfCalls": (1, 10_000),
    "minFailingInstances": (1, 1_000),
}
SLIDING_WINDOW_TYPES = ("count", "time")
# A count window holds this many calls at most, a time window this many seconds: both are
# stored with the state, so both are bounded.
SLIDING_WINDOW_SIZE_MAX = {"count": 1_000, "time": 3_600}

LATENCY_MAX_MS = 86_400_000  # one day: no call lasts longer, and per-minute sums of such values stay finite
EVENT_ID_MAX = 200
INSTANCE_MAX = 200
ERROR_MAX = 4096
ISSUED_BY_MAX = 200
REASON_MAX = 500
TRIGGERED_BY_MAX = 200
ENVIRONMENT_MAX = 100
NOTES_MAX = 2000
REQUEST_ID_MAX = 200

Issues = list[dict[str, str]]


def _issue(issues: Issues, field: str, issue: str) -> None:
    issues.append({"field": field, "issue": issue})


def is_int(value: Any) -> bool:
    """A JSON integer: not a float with a zero fraction, not a boolean."""
    return type(value) is int


def is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


def service_issues(issues: Issues, value: Any, field: str = "service") -> None:
    if type(value) is not str:
        _issue(issues, field, "must be a string")
    elif SERVICE_RE.fullmatch(value) is None:
        _issue(issues, field, "must be 1-200 characters of A-Z a-z 0-9 . _ : -")


def _epoch_ms(issues: Issues, value: Any, field: str) -> None:
    if not is_int(value):
        _issue(issues, field, "must be an integer (epoch milliseconds)")
    elif not 0 <= value <= MAX_EPOCH_MS:
        _issue(issues, field, f"must be between 0 and {MAX_EPOCH_MS}")


def _text(issues: Issues, value: Any, field: str, low: int, high: int, *, nullable: bool = False,
          blank_ok: bool = True) -> None:
    if value is None and nullable:
        return
    if type(value) is not str:
        _issue(issues, field, "must be a string or null" if nullable else "must be a string")
    elif not low <= len(value) <= high:
        _issue(issues, field, f"must be {low}-{high} characters long")
    elif not blank_ok and not value.strip():
        _issue(issues, field, "must not be blank")


def _unknown(issues: Issues, body: dict, allowed: frozenset[str] | set[str] | tuple[str, ...],
             prefix: str = "") -> None:
    for key in body:
        if key not in allowed:
            _issue(issues, f"{prefix}{key}", "unknown field")


def _object(issues: Issues, body: Any, field: str = "") -> bool:
    if type(body) is not dict:
        _issue(issues, field or "$", "must be a JSON object")
        return False
    return True


# --- CallOutcome -------------------------------------------------------------------------

KNOWN_SERVICES_MAX = 100_000


def outcome_ok(body: Any, known_services: set[str] | None = None) -> bool:
    """The hot-path check: True when `body` is a valid CallOutcome (no details).

    `known_services`, owned by the caller, remembers the names already checked (at most
    KNOWN_SERVICES_MAX), sparing the regular expression for a service seen before.
    """
    try:
        service = body["service"]
        if known_services is None or service not in known_services:
            if type(service) is not str or SERVICE_RE.fullmatch(service) is None:
                return False
            if known_services is not None:
                if len(known_services) >= KNOWN_SERVICES_MAX:
                    known_services.clear()
                known_services.add(service)
        latency = body["latencyMs"]
        ts = body["ts"]
        event_id = body["eventId"]
        if (body["outcome"] not in OUTCOMES
                or (type(latency) is not float and type(latency) is not int)
                or not 0 <= latency <= LATENCY_MAX_MS  # (false for NaN too)
                or type(ts) is not int or ts < 0 or ts > MAX_EPOCH_MS
                or type(event_id) is not str or not 0 < len(event_id) <= EVENT_ID_MAX):
            return False
    except (KeyError, TypeError):
        return False
    instance = body.get("instance")
    if instance is not None and (type(instance) is not str or len(instance) > INSTANCE_MAX):
        return False
    error = body.get("error")
    if error is not None and (type(error) is not str or len(error) > ERROR_MAX):
        return False
    return True


def outcome_issues(body: Any) -> Issues:
    issues: Issues = []
    if not _object(issues, body):
        return issues
    for name in ("service", "outcome", "latencyMs", "ts", "eventId"):
        if name not in body:
            _issue(issues, name, "is required")
    if "service" in body:
        service_issues(issues, body["service"])
    if "outcome" in body and (type(body["outcome"]) is not str or body["outcome"] not in OUTCOMES):
        _issue(issues, "outcome", "must be one of success, failure, timeout, rejected")
    if "latencyMs" in body:
        latency = body["latencyMs"]
        if not is_number(latency):
            _issue(issues, "latencyMs", "must be a number")
        elif not 0 <= latency <= LATENCY_MAX_MS:
            _issue(issues, "latencyMs", f"must be between 0 and {LATENCY_MAX_MS}")
    if "ts" in body:
        _epoch_ms(issues, body["ts"], "ts")
    if "eventId" in body:
        _text(issues, body["eventId"], "eventId", 1, EVENT_ID_MAX)
    if "instance" in body:
        _text(issues, body["instance"], "instance", 0, INSTANCE_MAX, nullable=True)
    if "error" in body:
        _text(issues, body["error"], "error", 0, ERROR_MAX, nullable=True)
    return issues


# --- REST bodies and command payloads ----------------------------------------------------

_CONFIG_FIELDS = frozenset(CONFIG_RANGES) | frozenset(TRIP_RULE_RANGES) | {"slidingWindowType", "slidingWindowSize"}


def config_issues(body: Any, prefix: str = "", *, partial: bool = False) -> Issues:
    """ConfigUpdateRequest (docs/topics-and-events.md): integers only, in range; requestLimit and
    the trip rules (docs/trip-rules.md) optional. `partial` (a shadow config, docs/shadow-config.md)
    requires no field: the ones given are merged onto the live config."""
    issues: Issues = []
    if not _object(issues, body, prefix.rstrip(".")):
        return issues
    _unknown(issues, body, _CONFIG_FIELDS, prefix)
    for ranges in (CONFIG_RANGES, TRIP_RULE_RANGES):
        for name, (low, high) in ranges.items():
            if name not in body:
                if name in CONFIG_REQUIRED and not partial:
                    _issue(issues, prefix + name, "is required")
                continue
            _int_in(issues, body[name], prefix + name, low, high)
    kind = body.get("slidingWindowType", "count")
    if kind not in SLIDING_WINDOW_TYPES:
        _issue(issues, prefix + "slidingWindowType", "must be one of count, time")
    elif "slidingWindowSize" in body:
        # A partial config without the type is bounded by the largest window: the merge is checked again.
        high = (max(SLIDING_WINDOW_SIZE_MAX.values()) if partial and "slidingWindowType" not in body
                else SLIDING_WINDOW_SIZE_MAX[kind])
        _int_in(issues, body["slidingWindowSize"], prefix + "slidingWindowSize", 1, high)
    return issues


def _int_in(issues: Issues, value: Any, field: str, low: int, high: int) -> None:
    if not is_int(value):
        _issue(issues, field, "must be an integer")
    elif not low <= value <= high:
        _issue(issues, field, f"must be between {low} and {high}")


_RESET_FIELDS = frozenset({"reason", "force", "metadata"})
_METADATA_FIELDS = frozenset({"triggeredBy", "environment", "notes"})


def reset_issues(body: Any, prefix: str = "", *, allow_request_id: bool = False) -> Issues:
    """ResetRequest (docs/topics-and-events.md); as a command payload it may also carry `requestId`."""
    issues: Issues = []
    if not _object(issues, body, prefix.rstrip(".")):
        return issues
    allowed = _RESET_FIELDS | {"requestId"} if allow_request_id else _RESET_FIELDS
    _unknown(issues, body, allowed, prefix)
    if "reason" not in body:
        _issue(issues, prefix + "reason", "is required")
    else:
        _text(issues, body["reason"], prefix + "reason", 1, REASON_MAX, blank_ok=False)
    if "force" in body and type(body["force"]) is not bool:
        _issue(issues, prefix + "force", "must be a boolean")
    if "metadata" in body:
        metadata = body["metadata"]
        where = prefix + "metadata"
        if _object(issues, metadata, where):
            _unknown(issues, metadata, _METADATA_FIELDS, where + ".")
            for name, high in (("triggeredBy", TRIGGERED_BY_MAX), ("environment", ENVIRONMENT_MAX)):
                if name not in metadata:
                    _issue(issues, f"{where}.{name}", "is required")
                else:
                    _text(issues, metadata[name], f"{where}.{name}", 1, high, blank_ok=False)
            if "notes" in metadata:
                _text(issues, metadata["notes"], f"{where}.notes", 0, NOTES_MAX)
    if allow_request_id and "requestId" in body:
        _text(issues, body["requestId"], prefix + "requestId", 1, REQUEST_ID_MAX)
    return issues


_COMMAND_FIELDS = frozenset({"commandId", "service", "type", "issuedAt", "issuedBy", "payload"})


def command_issues(body: Any) -> Issues:
    issues: Issues = []
    if not _object(issues, body):
        return issues
    _unknown(issues, body, _COMMAND_FIELDS)
    for name in ("commandId", "service", "type", "issuedAt", "issuedBy", "payload"):
        if name not in body:
            _issue(issues, name, "is required")
    if "commandId" in body:
        value = body["commandId"]
        if type(value) is not str or UUID_RE.fullmatch(value) is None:
            _issue(issues, "commandId", "must be a UUID string")
    if "service" in body:
        service_issues(issues, body["service"])
    if "issuedAt" in body:
        _epoch_ms(issues, body["issuedAt"], "issuedAt")
    if "issuedBy" in body:
        _text(issues, body["issuedBy"], "issuedBy", 1, ISSUED_BY_MAX)
    kind = body.get("type")
    if "type" in body and kind not in COMMAND_TYPES:
        _issue(issues, "type", "must be one of " + ", ".join(COMMAND_TYPES))
        return issues
    if "payload" in body:
        payload = body["payload"]
        if kind == CONFIG_UPDATE:
            issues.extend(config_issues(payload, "payload."))
        elif kind == BREAKER_RESET:
            issues.extend(reset_issues(payload, "payload.", allow_request_id=True))
        elif kind == SHADOW_SET:
            issues.extend(config_issues(payload, "payload.", partial=True))
        elif kind in (TICK, SHADOW_CLEAR, SHADOW_PROMOTE):
            if _object(issues, payload, "payload"):
                _unknown(issues, payload, (), "payload.")
    return issues
