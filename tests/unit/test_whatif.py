"""What-if (fusebox.core.whatif): the actual side equals the aggregator's fold; hand-computed candidates."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusebox.core import breaker, whatif
from fusebox.core.breaker.transitions import BREAKER_TRANSITIONS
from fusebox.core.codec import dumps_sorted
from fusebox.core.isotime import iso_ms, parse_iso_ms
from fusebox.core.validation import ValidationError
from tests.unit.breaker_log import SERVICE, T0, as_events, configure, fail, ok, tick
from tests.unit.test_breaker_properties import logs

BOUNDED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _reference(events, since_ms, until_ms):
    """What the aggregator did, event by event with the one-event fold: transitions in range,
    incidents, rejected calls and time open, computed without fusebox.core.whatif."""
    state = breaker.new_state(SERVICE)
    clock = None
    transitions, rejected = [], 0
    circuit, circuit_since, time_open = None, since_ms, 0
    for source, offset, body in events:
        t = whatif.event_time(body)
        clock = t if clock is None or t > clock else clock
        if clock > until_ms:
            break
        before = state.circuit
        state, emitted = breaker.fold(state, source, offset, body)
        moved = [value for topic, value in emitted if topic == BREAKER_TRANSITIONS]
        if clock < since_ms:
            continue
        if circuit is None:
            circuit = before
        if before == breaker.OPEN and not moved and "outcome" in body:
            rejected += 1
        for transition in moved:
            at = max(parse_iso_ms(transition["at"]), since_ms)
            if circuit == breaker.OPEN:
                time_open += at - circuit_since
            circuit, circuit_since = transition["to"], at
            transitions.append(transition)
    if circuit is None:
        circuit = state.circuit
    if circuit == breaker.OPEN:
        time_open += until_ms - circuit_since
    incidents = sum(1 for t in transitions if t["from"] == breaker.CLOSED and t["to"] == breaker.OPEN)
    return transitions, incidents, rejected, time_open


def _without_config_updates_from(events, since_ms):
    kept, clock = [], None
    for event in events:
        t = whatif.event_time(event[2])
        clock = t if clock is None or t > clock else clock
        if clock >= since_ms and event[2].get("type") == "config.update" and event[2]["payload"].get(
                "failureThreshold", 0) >= 1:
            continue
        kept.append(event)
    return kept


@BOUNDED
@given(logs(), st.integers(0, 40_000), st.integers(0, 60_000))
def test_the_actual_side_is_what_the_aggregator_folded(bodies, since, length):
    # Given a random log and a range inside it
    events = as_events(bodies)
    since_ms, until_ms = T0 + since, T0 + since + length
    # When the what-if re-folds it
    answer = whatif.whatif(SERVICE, events, since_ms, until_ms, {})
    # Then the actual side's transitions and figures are the aggregator's, event by event
    transitions, incidents, rejected, time_open = _reference(events, since_ms, until_ms)
    actual = answer["actual"]
    assert dumps_sorted(actual["transitions"]) == dumps_sorted(transitions)
    assert (actual["incidents"], actual["rejectedCalls"], actual["timeOpenMs"]) == (incidents, rejected, time_open)
    assert sum(parse_iso_ms(s["to"]) - parse_iso_ms(s["from"]) for s in actual["timeline"]) == until_ms - since_ms
    assert sum(parse_iso_ms(s["to"]) - parse_iso_ms(s["from"])
               for s in actual["timeline"] if s["circuit"] == "open") == time_open


@BOUNDED
@given(logs(), st.integers(0, 40_000), st.integers(0, 60_000))
def test_the_config_in_force_as_candidate_reproduces_the_actual_side(bodies, since, length):
    # Given a random log with no valid config update inside the range
    since_ms, until_ms = T0 + since, T0 + since + length
    events = _without_config_updates_from(as_events(bodies), since_ms)
    # When the candidate is the config in force at `since`
    answer = whatif.whatif(SERVICE, events, since_ms, until_ms, {})
    # Then both sides are the same, byte for byte
    assert dumps_sorted(answer["candidate"]) == dumps_sorted(answer["actual"])


def _log():
    # The config in force: 5 failures open, a trial after 10 s.
    return as_events([configure(-10_000, failure_threshold=5, reset_timeout_ms=10_000, min_healthy_period_ms=1_000),
                      ok(-5_000), fail(1_000), fail(2_000), fail(3_000), ok(4_000), ok(5_000), ok(14_000)])


def test_a_stricter_candidate_opens_where_the_hand_computed_case_says():
    answer = whatif.whatif(SERVICE, _log(), T0, T0 + 20_000, {"failureThreshold": 3})
    actual, candidate = answer["actual"], answer["candidate"]
    # The actual breaker never opened: 3 failures < 5
    assert (actual["incidents"], actual["timeOpenMs"], actual["rejectedCalls"], actual["transitions"]) == (0, 0, 0, [])
    assert actual["timeline"] == [{"from": iso_ms(T0), "to": iso_ms(T0 + 20_000), "circuit": "closed"}]
    # The candidate opens on the third failure, short-circuits the two successes of the next 10 s,
    # half-opens at the deadline (3 s + 10 s) once the next call shows that time has passed, and
    # closes on that call, its trial
    moves = [(t["from"], t["to"], t["at"], t["cause"]["rule"]) for t in candidate["transitions"]]
    assert moves == [("closed", "open", iso_ms(T0 + 3_000), "consecutive-failures"),
                     ("open", "half-open", iso_ms(T0 + 13_000), "reset-timeout-elapsed"),
                     ("half-open", "closed", iso_ms(T0 + 14_000), "trial-succeeded")]
    assert (candidate["incidents"], candidate["timeOpenMs"], candidate["rejectedCalls"]) == (1, 10_000, 2)
    assert candidate["timeline"] == [
        {"from": iso_ms(T0), "to": iso_ms(T0 + 3_000), "circuit": "closed"},
        {"from": iso_ms(T0 + 3_000), "to": iso_ms(T0 + 13_000), "circuit": "open"},
        {"from": iso_ms(T0 + 13_000), "to": iso_ms(T0 + 14_000), "circuit": "half-open"},
        {"from": iso_ms(T0 + 14_000), "to": iso_ms(T0 + 20_000), "circuit": "closed"}]
    assert candidate["config"]["failureThreshold"] == 3 and actual["config"]["failureThreshold"] == 5
    assert answer["eventsFolded"] == 8


def test_a_looser_candidate_stays_closed_where_the_actual_breaker_opened():
    events = as_events([configure(-10_000, failure_threshold=2, reset_timeout_ms=10_000, min_healthy_period_ms=1_000),
                        fail(1_000), fail(2_000), ok(3_000), tick(12_000), ok(13_000)])
    answer = whatif.whatif(SERVICE, events, T0, T0 + 20_000, {"failureThreshold": 4})
    actual, candidate = answer["actual"], answer["candidate"]
    assert [(t["to"], t["at"]) for t in actual["transitions"]] == [
        ("open", iso_ms(T0 + 2_000)), ("half-open", iso_ms(T0 + 12_000)), ("closed", iso_ms(T0 + 13_000))]
    assert (actual["incidents"], actual["timeOpenMs"], actual["rejectedCalls"]) == (1, 10_000, 1)
    assert (candidate["incidents"], candidate["timeOpenMs"], candidate["rejectedCalls"]) == (0, 0, 0)
    assert candidate["transitions"] == []


def test_the_candidate_replaces_the_config_updates_in_the_range():
    # An operator raised the threshold to 10 at 500 ms; the candidate keeps 3 throughout
    events = as_events([configure(-10_000, failure_threshold=5), configure(500, failure_threshold=10),
                        fail(1_000), fail(2_000), fail(3_000)])
    answer = whatif.whatif(SERVICE, events, T0, T0 + 5_000, {"failureThreshold": 3})
    assert answer["actual"]["config"]["failureThreshold"] == 10 and answer["actual"]["transitions"] == []
    assert answer["candidate"]["config"]["failureThreshold"] == 3
    assert [t["to"] for t in answer["candidate"]["transitions"]] == ["open"]


def test_events_after_until_are_not_folded():
    answer = whatif.whatif(SERVICE, _log(), T0, T0 + 2_500, {"failureThreshold": 3})
    assert answer["eventsFolded"] == 4 and answer["candidate"]["transitions"] == []


def test_a_range_with_no_event_gives_the_state_in_force_throughout():
    answer = whatif.whatif(SERVICE, _log(), T0 + 30_000, T0 + 40_000, {})
    assert answer["actual"]["timeline"] == [{"from": iso_ms(T0 + 30_000), "to": iso_ms(T0 + 40_000),
                                             "circuit": "closed"}]


@pytest.mark.parametrize("partial", [{"failureThreshold": 0}, {"resetTimeoutMs": "soon"}, {"colour": 1}, [3]])
def test_an_invalid_candidate_is_refused_as_a_config_update_is(partial):
    with pytest.raises(ValidationError) as refused:
        whatif.whatif(SERVICE, _log(), T0, T0 + 20_000, partial)
    assert refused.value.code == "VALIDATION_FAILED"


def test_transitions_and_timeline_are_capped_and_say_so(monkeypatch):
    monkeypatch.setattr(whatif, "TRANSITIONS_KEPT", 2)
    answer = whatif.whatif(SERVICE, _log(), T0, T0 + 20_000, {"failureThreshold": 3})
    candidate = answer["candidate"]
    assert len(candidate["transitions"]) == 2 and len(candidate["timeline"]) == 2 and candidate["truncated"]
    assert candidate["timeOpenMs"] == 10_000  # the figures still count the whole range
    assert answer["actual"]["truncated"] is False


def test_the_cli_reads_durations_ago_and_iso_times():
    from fusebox.whatif_cli import CliError, parse_when
    now = T0 + 10 * 86_400_000
    assert parse_when("since", "7d", now) == now - 7 * 86_400_000
    assert parse_when("since", "90s", now) == now - 90_000
    assert parse_when("since", iso_ms(T0), now) == T0
    assert parse_when("since", "2025-11-26T22:00:00", now) == T0  # naive means UTC
    with pytest.raises(CliError) as refused:
        parse_when("since", "last week", now)
    assert refused.value.code == "VALIDATION_FAILED"


def test_the_cli_table_puts_both_sides_side_by_side():
    from fusebox.whatif_cli import table
    answer = {"service": SERVICE, "since": iso_ms(T0), "until": iso_ms(T0 + 20_000), "oldestAvailable": None,
              **whatif.whatif(SERVICE, _log(), T0, T0 + 20_000, {"failureThreshold": 3})}
    text = table(answer)
    assert "incidents" in text and "0h00m10s" in text
    row = next(line for line in text.splitlines() if line.startswith("failureThreshold"))
    assert row.split()[1:] == ["5", "3"]
    assert "closed ->" in text and "consecutive-failures" in text


@pytest.mark.parametrize("body, field", [
    ({"since": "2025-11-26T22:00:00Z"}, "config"),
    ({"config": {}}, "since"),
    ({"config": {}, "since": "yesterday"}, "since"),
    ({"config": {}, "since": "2025-11-26T22:00:00Z", "until": "2025-11-26T21:00:00Z"}, "since"),
    ({"config": {}, "since": "2025-11-26T22:00:00Z", "dryRun": True}, "dryRun"),
])
def test_the_request_body_is_validated_with_field_details(body, field):
    from datetime import datetime, timezone

    from fusebox.api.errors import ApiError
    from fusebox.api.validation import validate_whatif
    with pytest.raises(ApiError) as refused:
        validate_whatif(body, datetime.now(timezone.utc))
    assert refused.value.code == "VALIDATION_FAILED"
    assert field in [detail["field"] for detail in refused.value.details]
