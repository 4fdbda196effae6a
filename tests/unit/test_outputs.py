"""What a folded batch sends: outputs in fold order then changed states, and one changelog record per service."""
from __future__ import annotations

from fusebox.aggregator.outputs import changelog_records, output_messages
from fusebox.aggregator.processor import InputChunk, process
from fusebox.core import breaker
from fusebox.core.codec import dumps, loads
from fusebox.core.topics import ALL_TOPICS
from tests.unit.test_processor_verdicts import Record

NOW = 1_764_194_400_000
NAMES = {spec.suffix: spec.name("t.") for spec in ALL_TOPICS}


def outcomes(service: str, kinds: list[str]) -> list[Record]:
    return [Record(i, service.encode(), dumps({"service": service, "outcome": kind, "latencyMs": 3.0, "ts": NOW + i,
                                                 "eventId": f"{service}-{i}"}), NOW + i)
            for i, kind in enumerate(kinds)]


def test_a_breaker_that_opens_publishes_its_history_then_its_new_state():
    # Given five failures of one service (the default threshold) and one success of another
    records = outcomes("payments-api", ["failure"] * 5)
    result = process([InputChunk("call-outcomes", 0, records), InputChunk("call-outcomes", 1, outcomes("search", ["success"]))],
                     lambda service: None)

    # When the batch's outputs are built
    messages = output_messages(result, NAMES)

    # Then the emitted transition and history come first, then one breaker-states record per changed service
    topics = [(topic, key) for topic, key, _value, _headers in messages]
    assert topics == [("t.breaker-transitions", b"payments-api"), ("t.health-history", b"payments-api"),
                      ("t.breaker-states", b"payments-api"), ("t.breaker-states", b"search")]
    transition, history, state = (loads(messages[i][2]) for i in range(3))
    assert (transition["to"], transition["cause"]["rule"]) == ("open", "consecutive-failures")
    assert (history["status"], history["seq"]) == ("degraded", 1)
    assert state["circuit"]["state"] == "open" and state == breaker.to_service_state(result.changes[0].state)
    assert all(headers is None for *_rest, headers in messages)


def test_a_service_whose_state_did_not_change_publishes_no_state_but_is_still_stored():
    # Given a service that has already folded offset 0, which is delivered again
    first = process([InputChunk("call-outcomes", 0, outcomes("search", ["success"]))], lambda service: None)
    stored = first.changes[0].state
    again = process([InputChunk("call-outcomes", 0, outcomes("search", ["success"]))], lambda service: stored)

    # Then nothing is published for it, and its changelog record is the state it keeps
    assert output_messages(again, NAMES) == []
    ((key, record),) = changelog_records(again)
    assert key == b"search"
    assert breaker.state_from_record(loads(record)) == stored
