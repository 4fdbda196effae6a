"""Which input records reach the fold, and the reason code of every one that does not. Pure.

A record of `call-outcomes` or `breaker-commands` is admitted when, checked in this order:

    value ── JSON? ──► a valid event? ──► keyed by its service? ──► event time ≤ arrival + max skew? ──► fold
             │            │                   │                           │
      MALFORMED_JSON  VALIDATION_FAILED   MISSING_KEY / KEY_MISMATCH  EVENT_TIME_IN_FUTURE   ──► DLQ

The arrival time is the record's own timestamp, which the input topics set when the broker
appends the record (`message.timestamp.type=LogAppendTime`): data in the log, not a clock, so the
live fold and `fusebox replay` give every record the same verdict. A late event is admitted, and
so is a record without a timestamp (-1): it carries no time to bound the event by.
"""
from __future__ import annotations

from fusebox.core.validation import (MALFORMED_JSON, VALIDATION_FAILED, ValidationError, decode_command,
                                     decode_outcome)

MISSING_KEY = "MISSING_KEY"
KEY_MISMATCH = "KEY_MISMATCH"
EVENT_TIME_IN_FUTURE = "EVENT_TIME_IN_FUTURE"

DEAD_LETTER_REASONS: dict[str, str] = {
    MALFORMED_JSON: "the record has no value, or its value is not JSON",
    VALIDATION_FAILED: "the value is JSON but not a valid CallOutcome or BreakerCommand "
                       "(the message names the fields, e.g. latencyMs above one day)",
    MISSING_KEY: "the record has no key (or an empty one); records are keyed by their service",
    KEY_MISMATCH: "the record's key is not the event's service name (UTF-8)",
    EVENT_TIME_IN_FUTURE: "the event time (ts, issuedAt) is more than FUSEBOX_MAX_CLOCK_SKEW_MS "
                          "ahead of the record's broker timestamp",
}
"""Every reason a record goes to the dead-letter topic (header fusebox.error.code), in the order checked."""

DEFAULT_MAX_CLOCK_SKEW_MS = 300_000


def admit_outcome(key: bytes | None, value: bytes | None, arrival_ms: int | None, max_skew_ms: int,
                  known_services: set[str] | None = None) -> dict:
    """The CallOutcome of a call-outcomes record; raise ValidationError (a DLQ reason) when it is refused.

    `known_services`: the caller's memo of service names already checked (fusebox.core.rules.outcome_ok)."""
    if value is None:
        raise ValidationError(MALFORMED_JSON, "record has no value")
    body = decode_outcome(value, known_services)
    # Both checks inline: this runs for every record.
    if key != body["service"].encode():
        _refuse_key(key, body["service"])
    if arrival_ms is not None and body["ts"] - arrival_ms > max_skew_ms and arrival_ms >= 0:
        _refuse_time(body["ts"], "ts", arrival_ms, max_skew_ms)
    return body


def admit_command(key: bytes | None, value: bytes | None, arrival_ms: int | None, max_skew_ms: int,
                  known_services: set[str] | None = None) -> dict:
    """The BreakerCommand of a breaker-commands record; raise ValidationError (a DLQ reason) when it is refused.

    `known_services` is accepted so that both admit functions are called alike; commands do not use it."""
    if value is None:
        raise ValidationError(MALFORMED_JSON, "record has no value")
    body = decode_command(value)
    if key != body["service"].encode():
        _refuse_key(key, body["service"])
    if arrival_ms is not None and body["issuedAt"] - arrival_ms > max_skew_ms and arrival_ms >= 0:
        _refuse_time(body["issuedAt"], "issuedAt", arrival_ms, max_skew_ms)
    return body


def _refuse_key(key: bytes | None, service: str) -> None:
    if not key:
        raise ValidationError(MISSING_KEY, f"record has no key; expected the service name {service!r}",
                              [{"field": "$key", "issue": "is required"}])
    raise ValidationError(KEY_MISMATCH, f"record key {key[:200]!r} is not the service name {service!r}",
                          [{"field": "$key", "issue": "must equal service"}])


def _refuse_time(event_ms: int, field: str, arrival_ms: int, max_skew_ms: int) -> None:
    raise ValidationError(
        EVENT_TIME_IN_FUTURE,
        f"{field} {event_ms} is {event_ms - arrival_ms} ms ahead of the record's timestamp {arrival_ms} "
        f"(at most {max_skew_ms} ms allowed)",
        [{"field": field, "issue": f"must be at most {max_skew_ms} ms after the record's timestamp"}])
