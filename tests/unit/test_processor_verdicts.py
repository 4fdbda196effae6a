"""The processor's verdicts on whole records: bad ones become dead letters with a stable code, the rest fold.

Regression tests of records that once reached the fold: a key that is not the service, no key, an
event time far ahead of the record's arrival, latencies that overflowed the per-minute sums.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from fusebox.aggregator.processor import InputChunk, process
from fusebox.core.codec import dumps
from fusebox.core.isotime import MAX_EPOCH_MS, iso_ms
from tests.unit.breaker_log import folded_events

NOW = 1_764_194_400_000
LATENCY_MAX_MS = 86_400_000  # one day, the contract's bound
SKEW_MS = 300_000  # FUSEBOX_MAX_CLOCK_SKEW_MS's default
OUTCOME = {"service": "b", "outcome": "success", "latencyMs": 12.0, "ts": NOW, "eventId": "e-1"}


@dataclass(frozen=True, slots=True)
class Record:
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int


def test_two_latencies_of_1e308_are_refused_and_the_sums_stay_finite():
    # Given two outcomes of 1e308 ms among valid ones at the largest latency allowed
    values = [dumps({**OUTCOME, "latencyMs": 1e308, "eventId": f"big-{i}"}) for i in range(2)]
    values += [dumps({**OUTCOME, "latencyMs": LATENCY_MAX_MS, "eventId": f"ok-{i}"}) for i in range(1000)]
    records = [Record(offset, b"b", value, NOW) for offset, value in enumerate(values)]
    # When they are processed
    result = process([InputChunk("call-outcomes", 0, records)], lambda service: None)
    # Then both huge ones are dead letters and the minute's latency sum is finite and exact
    assert [(d.record.offset, d.code) for d in result.dead_letters] == [(0, "VALIDATION_FAILED"),
                                                                       (1, "VALIDATION_FAILED")]
    (change,) = result.changes
    ((minute, bucket),) = change.state.rollups.open.items()
    assert math.isfinite(bucket[4]) and bucket[4] == 1000 * LATENCY_MAX_MS


def outcome_record(offset: int, key: bytes | None, arrival: int = NOW, **change) -> Record:
    return Record(offset, key, dumps({**OUTCOME, "eventId": f"e-{offset}", **change}), arrival)


def test_the_processor_dead_letters_each_refused_record_with_its_code_and_folds_the_rest():
    records = [
        outcome_record(0, b"b"),
        outcome_record(1, b"a"),  # keyed for another service
        outcome_record(2, None),  # no key
        outcome_record(3, b"b", ts=NOW + SKEW_MS + 1),
        outcome_record(4, b"b", outcome="failure"),
    ]
    result = process([InputChunk("call-outcomes", 2, records)], lambda service: None)
    assert [(d.record.offset, d.code) for d in result.dead_letters] == [
        (1, "KEY_MISMATCH"), (2, "MISSING_KEY"), (3, "EVENT_TIME_IN_FUTURE")]
    (change,) = result.changes
    assert (change.service, change.state.successful, change.state.failed) == ("b", 1, 1)
    assert folded_events(result) == 2


def test_the_processor_takes_the_allowed_skew_as_a_parameter():
    records = [outcome_record(0, b"b", ts=NOW + 60_000)]
    assert [d.code for d in process([InputChunk("call-outcomes", 0, records)], lambda s: None,
                                    max_clock_skew_ms=59_999).dead_letters] == ["EVENT_TIME_IN_FUTURE"]
    assert folded_events(process([InputChunk("call-outcomes", 0, records)], lambda s: None,
                                 max_clock_skew_ms=60_000)) == 1


def test_a_success_stamped_in_year_9999_does_not_wedge_the_breaker_open():
    # Given one success stamped 9999-12-31, then five failures of now
    records = [outcome_record(0, b"b", ts=MAX_EPOCH_MS)]
    records += [outcome_record(1 + i, b"b", arrival=NOW + i, outcome="failure", ts=NOW + i) for i in range(5)]
    # When they are processed
    result = process([InputChunk("call-outcomes", 0, records)], lambda service: None)
    # Then the stamped one is a dead letter, and the breaker opens at the fifth failure, as if it never came
    assert [(d.record.offset, d.code) for d in result.dead_letters] == [(0, "EVENT_TIME_IN_FUTURE")]
    (change,) = result.changes
    circuit = change.service_state["circuit"]
    assert circuit["state"] == "open" and circuit["openedAt"] == iso_ms(NOW + 4)
    assert change.next_deadline == NOW + 4 + 30_000


def test_commands_keyed_by_another_name_or_by_none_are_dead_letters_too():
    tick = {"commandId": "c0ffee00-0000-4000-8000-000000000001", "service": "b", "type": "tick",
            "issuedAt": NOW, "issuedBy": "fusebox-aggregator", "payload": {}}
    records = [Record(0, b"a", dumps(tick), NOW), Record(1, None, dumps(tick), NOW),
               Record(2, b"b", dumps({**tick, "issuedAt": NOW + SKEW_MS + 1}), NOW)]
    result = process([InputChunk("breaker-commands", 0, records)], lambda service: None)
    assert [(d.record.offset, d.code) for d in result.dead_letters] == [
        (0, "KEY_MISMATCH"), (1, "MISSING_KEY"), (2, "EVENT_TIME_IN_FUTURE")]
    assert result.changes == [] and result.emitted == []
