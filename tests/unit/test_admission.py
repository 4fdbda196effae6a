"""Which input records reach the fold: the value, the key and the event time, each refused with its own code."""
from __future__ import annotations


import pytest

from fusebox.core import admission
from fusebox.core.admission import (DEFAULT_MAX_CLOCK_SKEW_MS, EVENT_TIME_IN_FUTURE, KEY_MISMATCH, MISSING_KEY,
                                    admit_command, admit_outcome)
from fusebox.core.codec import dumps
from fusebox.core.isotime import MAX_EPOCH_MS
from fusebox.core.rules import LATENCY_MAX_MS
from fusebox.core.validation import MALFORMED_JSON, VALIDATION_FAILED, ValidationError

NOW = 1_764_194_400_000
OUTCOME = {"service": "b", "outcome": "success", "latencyMs": 12.0, "ts": NOW, "eventId": "e-1"}
TICK = {"commandId": "c0ffee00-0000-4000-8000-000000000001", "service": "b", "type": "tick",
        "issuedAt": NOW, "issuedBy": "fusebox-aggregator", "payload": {}}


def refused(admit, key, body, arrival=NOW, skew=DEFAULT_MAX_CLOCK_SKEW_MS) -> str:
    with pytest.raises(ValidationError) as raised:
        admit(key, body if body is None or isinstance(body, bytes) else dumps(body), arrival, skew)
    return raised.value.code


# --- the key ------------------------------------------------------------------------------

@pytest.mark.parametrize("admit, body", [(admit_outcome, OUTCOME), (admit_command, TICK)])
def test_a_record_keyed_by_its_service_is_admitted(admit, body):
    assert admit(b"b", dumps(body), NOW, DEFAULT_MAX_CLOCK_SKEW_MS) == body


@pytest.mark.parametrize("admit, body", [(admit_outcome, OUTCOME), (admit_command, TICK)])
@pytest.mark.parametrize("key", [b"a", b"B", b"b ", b"\xff", b"b" * 300])
def test_a_record_keyed_by_another_name_is_a_key_mismatch(admit, body, key):
    assert refused(admit, key, body) == KEY_MISMATCH


@pytest.mark.parametrize("admit, body", [(admit_outcome, OUTCOME), (admit_command, TICK)])
@pytest.mark.parametrize("key", [None, b""])
def test_a_record_without_a_key_is_a_missing_key(admit, body, key):
    assert refused(admit, key, body) == MISSING_KEY


def test_the_value_is_judged_before_the_key():
    assert refused(admit_outcome, None, b"{not json") == MALFORMED_JSON
    assert refused(admit_outcome, b"a", {**OUTCOME, "outcome": "maybe"}) == VALIDATION_FAILED
    assert refused(admit_outcome, b"b", None) == MALFORMED_JSON


# --- the event time against the record's (broker) timestamp ---------------------------------

@pytest.mark.parametrize("admit, body, field", [(admit_outcome, OUTCOME, "ts"), (admit_command, TICK, "issuedAt")])
def test_an_event_at_most_the_allowed_skew_ahead_of_its_arrival_is_admitted(admit, body, field):
    at_bound = {**body, field: NOW + DEFAULT_MAX_CLOCK_SKEW_MS}
    assert admit(b"b", dumps(at_bound), NOW, DEFAULT_MAX_CLOCK_SKEW_MS) == at_bound


@pytest.mark.parametrize("admit, body, field", [(admit_outcome, OUTCOME, "ts"), (admit_command, TICK, "issuedAt")])
@pytest.mark.parametrize("ahead", [DEFAULT_MAX_CLOCK_SKEW_MS + 1, 86_400_000])
def test_an_event_further_ahead_of_its_arrival_is_in_the_future(admit, body, field, ahead):
    assert refused(admit, b"b", {**body, field: NOW + ahead}) == EVENT_TIME_IN_FUTURE


def test_an_event_stamped_at_the_end_of_year_9999_is_in_the_future():
    assert refused(admit_outcome, b"b", {**OUTCOME, "ts": MAX_EPOCH_MS}) == EVENT_TIME_IN_FUTURE


def test_the_allowed_skew_is_a_parameter():
    body = {**OUTCOME, "ts": NOW + 10_000}
    assert refused(admit_outcome, b"b", body, skew=9_999) == EVENT_TIME_IN_FUTURE
    assert admit_outcome(b"b", dumps(body), NOW, 10_000) == body


@pytest.mark.parametrize("late_by", [1, 3_600_000, NOW])
def test_a_late_event_is_admitted(late_by):
    body = {**OUTCOME, "ts": NOW - late_by}
    assert admit_outcome(b"b", dumps(body), NOW, DEFAULT_MAX_CLOCK_SKEW_MS) == body


@pytest.mark.parametrize("arrival", [None, -1])
def test_a_record_without_a_timestamp_is_not_bounded_in_time(arrival):
    body = {**OUTCOME, "ts": NOW + 86_400_000}
    assert admit_outcome(b"b", dumps(body), arrival, DEFAULT_MAX_CLOCK_SKEW_MS) == body


# --- latencyMs ----------------------------------------------------------------------------

def test_latency_is_bounded_to_one_day():
    assert LATENCY_MAX_MS == 86_400_000
    for latency in (0, 0.0, 86_400_000, 86_400_000.0):
        assert admit_outcome(b"b", dumps({**OUTCOME, "latencyMs": latency}), NOW, DEFAULT_MAX_CLOCK_SKEW_MS)
    for latency in (86_400_000.001, 86_400_001, 1e308):
        assert refused(admit_outcome, b"b", {**OUTCOME, "latencyMs": latency}) == VALIDATION_FAILED


# --- the reason codes ---------------------------------------------------------------------

def test_every_reason_code_is_listed_once_with_when_it_applies():
    assert list(admission.DEAD_LETTER_REASONS) == [MALFORMED_JSON, VALIDATION_FAILED, MISSING_KEY, KEY_MISMATCH,
                                                   EVENT_TIME_IN_FUTURE]
    assert all(when for when in admission.DEAD_LETTER_REASONS.values())
