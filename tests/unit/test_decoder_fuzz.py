"""Fuzzing the input decoders: whatever a record holds, the verdict is a valid event or a known DLQ reason.

Arbitrary bytes, arbitrary JSON values, and valid events with fields replaced by arbitrary values,
with arbitrary keys and arrival timestamps. Bounded to a few seconds.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusebox.aggregator.processor import InputChunk, process
from fusebox.core import rules
from fusebox.core.admission import DEAD_LETTER_REASONS, DEFAULT_MAX_CLOCK_SKEW_MS, admit_command, admit_outcome
from fusebox.core.validation import ValidationError
from tests.unit.breaker_log import folded_events

NOW = 1_764_194_400_000
OUTCOME = {"service": "payments-api", "outcome": "failure", "latencyMs": 12.5, "ts": NOW, "eventId": "e-1",
           "instance": "checkout-1", "error": "boom"}
COMMANDS = [
    {"commandId": "3f0c9a6e-1b2d-4c3e-8f4a-5b6c7d8e9f00", "service": "payments-api", "type": "config.update",
     "issuedAt": NOW, "issuedBy": "admin", "payload": {"failureThreshold": 3, "resetTimeoutMs": 1000,
                                                       "minHealthyPeriodMs": 0, "requestLimit": 2}},
    {"commandId": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "service": "payments-api", "type": "breaker.reset",
     "issuedAt": NOW, "issuedBy": "admin", "payload": {"reason": "fixed", "force": False, "requestId": "r-1",
                                                       "metadata": {"triggeredBy": "a", "environment": "p"}}},
    {"commandId": "c0ffee00-0000-4000-8000-000000000001", "service": "payments-api", "type": "tick",
     "issuedAt": NOW, "issuedBy": "fusebox-aggregator", "payload": {}},
]

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
    st.sampled_from(["payments-api", "success", "failure", "timeout", "rejected", "tick", "config.update",
                     "breaker.reset", "", " ", "x" * 201, NOW, NOW + 10 ** 9, 86_400_001, 1e308, -0.0]),
)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=12)
keys = st.one_of(st.just(b"payments-api"), st.sampled_from([None, b"", b"payments-api\x00", b"other"]),
                 st.binary(max_size=12))
arrivals = st.one_of(st.just(NOW), st.none(), st.integers(-2, 2 ** 63 - 1))


def mutated(base: dict):
    names = sorted(base)
    return st.tuples(st.dictionaries(st.sampled_from(names + ["payload", "extra"]), json_values, max_size=3),
                     st.lists(st.sampled_from(names), max_size=2)).map(
        lambda change: {**{k: v for k, v in base.items() if k not in change[1]}, **change[0]})


def encoded(value) -> bytes:
    """JSON text as any producer might write it: stdlib json writes NaN, Infinity and integers of any size."""
    return json.dumps(value).encode()


values = st.one_of(
    st.sampled_from([OUTCOME, *COMMANDS]).map(encoded),
    st.integers(NOW - 10 ** 7, NOW + 10 ** 6).map(lambda ts: encoded({**OUTCOME, "ts": ts})),
    st.binary(max_size=64),
    json_values.map(encoded),
    mutated(OUTCOME).map(encoded),
    st.sampled_from(COMMANDS).flatmap(mutated).map(encoded),
    st.sampled_from([b"", b"{", b"\xff", b"[" * 2_000 + b"]" * 2_000, b'{"service": "payments-api"}']),
)


def verdict(admit, key, value, arrival):
    try:
        return admit(key, value, arrival, DEFAULT_MAX_CLOCK_SKEW_MS)
    except ValidationError as exc:
        assert exc.code in DEAD_LETTER_REASONS, exc.code
        assert isinstance(exc.message, str) and exc.message
        return None


@FUZZ
@given(keys, values, arrivals)
def test_an_outcome_record_is_a_valid_event_or_a_known_dead_letter(key, value, arrival):
    body = verdict(admit_outcome, key, value, arrival)
    if body is not None:
        assert rules.outcome_ok(body) and rules.outcome_issues(body) == []
        assert key == body["service"].encode()
        assert 0 <= body["latencyMs"] <= rules.LATENCY_MAX_MS


@FUZZ
@given(keys, values, arrivals)
def test_a_command_record_is_a_valid_command_or_a_known_dead_letter(key, value, arrival):
    body = verdict(admit_command, key, value, arrival)
    if body is not None:
        assert rules.command_issues(body) == []
        assert key == body["service"].encode()


@dataclass(frozen=True, slots=True)
class Record:
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int | None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["call-outcomes", "breaker-commands"]),
       st.lists(st.tuples(keys, st.one_of(st.none(), values), arrivals), min_size=1, max_size=20))
def test_a_batch_of_arbitrary_records_is_folded_or_dead_lettered_record_by_record(topic, drawn):
    records = [Record(offset, key, value, arrival) for offset, (key, value, arrival) in enumerate(drawn)]
    result = process([InputChunk(topic, 0, records)], lambda service: None)
    assert folded_events(result) + len(result.dead_letters) == len(records)
    assert {letter.code for letter in result.dead_letters} <= set(DEAD_LETTER_REASONS)
