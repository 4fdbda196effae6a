"""The shadow breaker (docs/shadow-config.md): a candidate config folded beside the real one, never enforced."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusebox.core import breaker, codec
from fusebox.core.breaker import state as state_module
from fusebox.core.breaker.commands import NO_SHADOW_CONFIG
from tests.unit.breaker_log import SERVICE, T0, as_events, command, configure, fail, ok, of_topic, tick

LIVE = configure(0, failure_threshold=10, reset_timeout_ms=5_000, min_healthy_period_ms=0)


def shadow_set(at: int, **payload) -> dict:
    return command("shadow-config.set", at, payload)


def shadow_clear(at: int) -> dict:
    return command("shadow-config.clear", at)


def promote(at: int) -> dict:
    return command("shadow-config.promote", at)


def fold(bodies: list[dict]):
    return breaker.fold_service(breaker.new_state(SERVICE), as_events(bodies))


def results(emitted) -> list[dict]:
    return of_topic(emitted, "command-results")


def test_failures_open_the_shadow_breaker_and_not_the_real_one():
    # Given a live threshold of 10 and a shadow of 3 (partial: merged onto the live config)
    state, emitted = fold([LIVE, shadow_set(1, failureThreshold=3), *[fail(10 + i) for i in range(4)]])

    # Then the real breaker is closed with 4 failures, the shadow open after the third
    wire = breaker.to_service_state(state)
    assert wire["circuit"]["state"] == "closed" and wire["circuit"]["failureCount"] == 4
    assert wire["shadow"]["state"] == "open"
    assert wire["shadow"]["config"] == {"failureThreshold": 3, "resetTimeoutMs": 5_000, "minHealthyPeriodMs": 0,
                                        "requestLimit": None}
    transitions = of_topic(emitted, "breaker-transitions")
    assert [(t["from"], t["to"], t.get("shadow")) for t in transitions] == [("closed", "open", True)]
    assert transitions[0]["cause"]["rule"] == "consecutive-failures"
    assert transitions[0]["cause"]["eventId"] == "failure-12"
    assert wire["shadow"]["lastTransition"] == transitions[0]
    assert wire["lastTransition"] is None
    # And only the shadow's transitions leave it: the real breaker's history and results are its own
    assert [r["type"] for r in results(emitted)] == ["config.update", "shadow-config.set"]


def test_a_shadow_breaker_recovers_by_its_own_timeout_at_the_next_event():
    state, emitted = fold([LIVE, shadow_set(1, failureThreshold=2, resetTimeoutMs=1_000),
                           fail(10), fail(11), ok(2_000), ok(2_001)])
    assert [(t["from"], t["to"]) for t in of_topic(emitted, "breaker-transitions")] == [
        ("closed", "open"), ("open", "half-open"), ("half-open", "closed")]
    assert state.shadow.circuit == "closed" and state.circuit == "closed"
    assert breaker.next_deadline(state) is None


def test_the_next_deadline_is_the_shadows_when_only_the_shadow_waits():
    state, _ = fold([LIVE, shadow_set(1, failureThreshold=1, resetTimeoutMs=1_000), fail(10)])
    assert breaker.next_deadline(state) == T0 + 1_010
    before = state
    state, emitted = breaker.fold_service(state, as_events([tick(1_010)], {k: v + 1 for k, v in state.offsets.items()}))
    assert [t["to"] for t in of_topic(emitted, "breaker-transitions")] == ["half-open"]
    assert state.shadow.circuit == "half-open" and state.circuit == "closed"
    # And the state that carries the moved shadow is a new version, so the aggregator publishes it
    assert state.version == before.version + 1
    assert breaker.to_service_state(state)["shadow"]["state"] == "half-open"


def test_promote_makes_the_shadow_config_the_live_one_and_the_next_outage_opens_it():
    state, emitted = fold([LIVE, shadow_set(1, failureThreshold=3), ok(2), promote(3),
                           *[fail(10 + i) for i in range(3)]])
    assert state.shadow is None
    assert breaker.to_service_state(state)["config"]["failureThreshold"] == 3
    assert "shadow" not in breaker.to_service_state(state)
    promoted = results(emitted)[-1]
    assert promoted["type"] == "shadow-config.promote" and promoted["ok"] is True
    assert promoted["result"]["config"]["failureThreshold"] == 3
    transitions = of_topic(emitted, "breaker-transitions")
    assert [(t["to"], "shadow" in t) for t in transitions] == [("open", False)]
    assert state.circuit == "open"


def test_promote_without_a_shadow_is_refused_with_a_stable_code():
    state, emitted = fold([LIVE, promote(3)])
    refused = results(emitted)[-1]
    assert refused["ok"] is False and refused["error"]["code"] == NO_SHADOW_CONFIG
    assert state.failure_threshold == 10


def test_a_merged_config_out_of_range_is_refused_and_no_shadow_is_set():
    state, emitted = fold([LIVE, shadow_set(1, slidingWindowSize=2_000)])
    refused = results(emitted)[-1]
    assert refused["ok"] is False and refused["error"]["code"] == "VALIDATION_FAILED"
    assert "slidingWindowSize" in refused["error"]["message"]
    assert state.shadow is None


def test_clear_removes_the_shadow_and_its_breaker_stops_counting():
    state, emitted = fold([LIVE, shadow_set(1, failureThreshold=3), fail(2), shadow_clear(3), fail(4), fail(5)])
    assert state.shadow is None
    assert of_topic(emitted, "breaker-transitions") == []
    assert results(emitted)[-1]["result"] == {"cleared": True}


def test_the_shadow_ignores_the_operators_resets_and_config_updates():
    state, _ = fold([LIVE, shadow_set(1, failureThreshold=3), fail(2), fail(3),
                     configure(4, failure_threshold=50), command("breaker.reset", 5, {"reason": "x", "force": True})])
    assert state.failure_threshold == 50 and state.failure_count == 0
    assert state.shadow.failure_threshold == 3 and state.shadow.failure_count == 2


def test_the_real_breaker_folds_to_the_same_state_as_without_a_shadow():
    # Given one log with a shadow set and cleared and one without the shadow commands
    bodies = [LIVE, *[fail(10 + i) for i in range(12)], ok(6_000), ok(6_001)]
    with_shadow = [LIVE, shadow_set(1, failureThreshold=2), *bodies[1:8], shadow_clear(9), *bodies[8:]]
    plain, plain_emitted = fold(bodies)
    shadowed, shadowed_emitted = fold(with_shadow)
    real = [t for t in of_topic(shadowed_emitted, "breaker-transitions") if "shadow" not in t]
    assert real == of_topic(plain_emitted, "breaker-transitions")
    assert of_topic(shadowed_emitted, "health-history") == of_topic(plain_emitted, "health-history")


def test_no_shadow_set_is_fold_batch_exactly():
    bodies = [LIVE, *[fail(10 + i) for i in range(12)], ok(6_000)]
    assert fold(bodies) == breaker.fold_batch(breaker.new_state(SERVICE), as_events(bodies))


def test_a_state_with_a_shadow_round_trips_through_its_record_and_an_older_record_loads():
    state, _ = fold([LIVE, shadow_set(1, failureThreshold=3), fail(2)])
    record = codec.loads(codec.dumps(breaker.state_to_record(state)))
    assert record["format"] == breaker.RECORD_FORMAT == 4
    loaded = breaker.state_from_record(record)
    assert loaded == state and loaded.shadow == state.shadow
    older = {name: value for name, value in record.items() if name != "shadow"} | {"format": 3}
    assert breaker.state_from_record(older).shadow is None


_BODIES = st.lists(st.one_of(
    st.builds(lambda at: fail(at), st.integers(0, 20_000)),
    st.builds(lambda at: ok(at), st.integers(0, 20_000)),
    st.builds(lambda at: tick(at), st.integers(0, 20_000)),
    st.builds(lambda at, n: shadow_set(at, failureThreshold=n, resetTimeoutMs=1_000), st.integers(0, 20_000),
              st.integers(1, 4)),
    st.builds(lambda at: shadow_clear(at), st.integers(0, 20_000)),
    st.builds(lambda at: promote(at), st.integers(0, 20_000)),
), max_size=60)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies=_BODIES, cuts=st.lists(st.integers(0, 60), max_size=5))
def test_how_a_log_is_cut_into_batches_never_changes_the_state_or_the_transitions(bodies, cuts):
    # Given one log, folded whole and folded in batches cut anywhere (as live and replay cut it)
    events = as_events([LIVE, *bodies])
    whole, whole_emitted = breaker.fold_service(breaker.new_state(SERVICE), events)
    state, emitted = breaker.new_state(SERVICE), []
    start = 0
    for cut in sorted({min(c, len(events)) for c in cuts} | {len(events)}):
        state, out = breaker.fold_service(state, events[start:cut])
        emitted.extend(out)
        start = cut
    # Then the state (the shadow's included) is the same, and so is every topic's sequence,
    # real and shadow transitions apart
    assert codec.dumps(breaker.state_to_record(state)) == codec.dumps(breaker.state_to_record(whole))

    def by_kind(items):
        return {(topic, value.get("shadow", False)): [v for t, v in items if t == topic
                                                       and v.get("shadow", False) == value.get("shadow", False)]
                for topic, value in items}
    assert by_kind(emitted) == by_kind(whole_emitted)
    assert state_module.state_from_record(breaker.state_to_record(state)) == whole
