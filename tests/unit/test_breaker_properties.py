"""Properties of the fold over random logs: counts, determinism, chunking, redelivery, schemas."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusebox.core import breaker
from fusebox.core.breaker import state as breaker_state
from fusebox.core.codec import dumps, dumps_sorted, loads
from fusebox.core.schemas import schema_errors
from tests.unit.breaker_log import (as_events, command, configure, outcome, reset, tick)

BOUNDED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# The trip rules beyond the seed's (docs/trip-rules.md), small so that random logs reach them.
trip_rules = st.fixed_dictionaries({}, optional={
    "failureRateThreshold": st.integers(1, 100),
    "slowCallRateThreshold": st.integers(1, 100),
    "slowCallDurationMs": st.integers(1, 60),
    "slidingWindowType": st.sampled_from(["count", "time"]),
    "slidingWindowSize": st.integers(1, 8),
    "minimumNumberOfCalls": st.integers(1, 6),
    "minFailingInstances": st.integers(1, 3),
})


def _configure(at, threshold, timeout, healthy, limit, rules):
    body = configure(at, failure_threshold=threshold, reset_timeout_ms=timeout, min_healthy_period_ms=healthy,
                     request_limit=limit)
    return {**body, "payload": {**body["payload"], **rules}}


# Small timeouts and thresholds, so that random logs go through every state; half of them
# with trip rules.
configs = st.builds(
    _configure,
    st.just(0), st.integers(1, 4), st.integers(100, 2_000), st.integers(0, 3_000),
    st.none() | st.integers(1, 3), st.just({}) | trip_rules)

step = st.one_of(
    st.tuples(st.just("outcome"), st.sampled_from(["success", "success", "failure", "failure", "timeout",
                                                   "rejected"])),
    st.tuples(st.just("outcome"), st.sampled_from(["success", "failure", "timeout"])),
    st.tuples(st.just("tick"), st.none()),
    st.tuples(st.just("reset"), st.booleans()),
    st.tuples(st.just("config"), configs),
    st.tuples(st.just("bad-config"), st.none()),
    st.tuples(st.just("burst"), st.integers(1, 5)),
)


@st.composite
def logs(draw, max_size: int = 60) -> list[dict]:
    """A random log of one service, mostly in time order with some late events."""
    steps = draw(st.lists(st.tuples(step, st.integers(-300, 1_500)), min_size=1, max_size=max_size))
    clock = 0
    bodies = [draw(configs)] if draw(st.integers(0, 3)) else []
    for (kind, arg), gap in steps:
        clock = max(0, clock + gap) if gap >= 0 else clock
        at = max(0, clock + gap) if gap < 0 else clock  # a negative gap: this one event is late
        if kind == "burst":  # failures in a row, to reach the threshold often
            bodies.extend(outcome("failure", at + i) for i in range(arg))
            continue
        if kind == "outcome":
            body = outcome(arg, at)
            body["eventId"] = f"e{len(bodies)}"
            body["latencyMs"] = draw(st.sampled_from([5.0, 30.0, 100.0]))
            body["instance"] = draw(st.sampled_from(["pod-a", "pod-b", "pod-c", None]))
        elif kind == "tick":
            body = tick(at)
        elif kind == "reset":
            body = reset(at, force=arg)
        elif kind == "config":
            body = {**arg, "issuedAt": arg["issuedAt"] + at}
        else:
            body = command("config.update", at, {"failureThreshold": 0, "resetTimeoutMs": 1,
                                                 "minHealthyPeriodMs": 0})
        bodies.append(body)
    return bodies


def fold_all(bodies: list[dict]):
    return breaker.fold_batch(breaker.new_state("payments-api"), as_events(bodies))


def record_bytes(state: breaker.BreakerState) -> bytes:
    return dumps_sorted(breaker.state_to_record(state))


@BOUNDED
@given(logs())
def test_counters_add_up_to_the_outcomes_in_the_log(bodies):
    # Given a random log / When it is folded
    state, _ = fold_all(bodies)
    # Then every counter equals the number of its outcomes
    kinds = [b["outcome"] for b in bodies if "outcome" in b]
    operations = breaker.to_service_state(state)["operations"]
    assert operations["successful"] == kinds.count("success")
    assert operations["failed"] == kinds.count("failure") + kinds.count("timeout")
    assert operations["rejected"] == kinds.count("rejected")
    assert operations["total"] == operations["successful"] + operations["failed"]


@BOUNDED
@given(logs())
def test_folding_the_same_log_twice_gives_the_same_bytes(bodies):
    first, first_out = fold_all(bodies)
    second, second_out = fold_all(bodies)
    assert record_bytes(first) == record_bytes(second)
    assert dumps_sorted(breaker.to_service_state(first)) == dumps_sorted(breaker.to_service_state(second))
    assert dumps_sorted(first_out) == dumps_sorted(second_out)


@BOUNDED
@given(logs(), st.lists(st.integers(0, 60), max_size=6))
def test_folding_in_chunks_through_stored_records_equals_folding_at_once(bodies, cuts):
    # Given a log folded at once
    whole, whole_out = fold_all(bodies)
    # When it is folded in chunks, the state stored and loaded as bytes between chunks
    events = as_events(bodies)
    bounds = sorted({0, len(events), *(c for c in cuts if c < len(events))})
    state, emitted = breaker.new_state("payments-api"), []
    for start, end in zip(bounds, bounds[1:]):
        state, out = breaker.fold_batch(state, events[start:end])
        emitted.extend(out)
        state = breaker.state_from_record(loads(dumps(breaker.state_to_record(state))))
    # Then the state and everything emitted are the same
    assert record_bytes(state) == record_bytes(whole)
    assert dumps_sorted(emitted) == dumps_sorted(whole_out)


@BOUNDED
@given(logs(), st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=4))
def test_redelivered_events_are_skipped(bodies, replays):
    # Given a log folded once, in order
    whole, whole_out = fold_all(bodies)
    # When the same log is delivered with earlier stretches of it delivered again
    events = as_events(bodies)
    back_at = dict(replays)
    delivery = []
    for index, event in enumerate(events):
        delivery.append(event)
        if index in back_at:  # after this one, the last few delivered come again
            delivery.extend(events[max(0, index + 1 - back_at[index]):index + 1])
    state, emitted = breaker.fold_batch(breaker.new_state("payments-api"), delivery)
    # Then nothing is counted twice and nothing is emitted twice
    assert record_bytes(state) == record_bytes(whole)
    assert dumps_sorted(emitted) == dumps_sorted(whole_out)


@BOUNDED
@given(logs())
def test_one_event_at_a_time_equals_one_batch(bodies):
    whole, whole_out = fold_all(bodies)
    state, emitted = breaker.new_state("payments-api"), []
    for source, offset, body in as_events(bodies):
        state, out = breaker.fold(state, source, offset, body)
        emitted.extend(out)
    assert record_bytes(state) == record_bytes(whole)
    assert emitted == whole_out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs(max_size=30))
def test_every_emitted_object_and_every_state_validates_against_its_schema(bodies):
    state = breaker.new_state("payments-api")
    assert schema_errors("ServiceState", breaker.to_service_state(state)) == []
    for source, offset, body in as_events(bodies):
        state, out = breaker.fold(state, source, offset, body)
        assert schema_errors("ServiceState", breaker.to_service_state(state)) == []
        for topic, value in out:
            title = {"health-history": "HealthHistoryEntry", "command-results": "CommandResult",
                     "breaker-transitions": "BreakerTransition",
                     "metric-rollups": "MetricRollup"}[topic]
            assert schema_errors(title, value) == [], value


def _check_invariants(state: breaker.BreakerState) -> None:
    view = breaker.to_service_state(state)
    circuit, config = view["circuit"], view["config"]
    if circuit["state"] == "closed" and state.min_failing_instances is None:
        assert circuit["failureCount"] < config["failureThreshold"]
        assert circuit["recoveryAttempts"] == 0 and circuit["openedAt"] is None
    if circuit["state"] == "open":
        assert view["status"] == "failed"
        assert view["nextDeadline"] == state.opened_at + config["resetTimeoutMs"] > state.now
    else:
        assert view["status"] != "failed"
    if circuit["state"] == "half-open":
        assert view["status"] == "degraded" and view["nextDeadline"] is None
        assert circuit["recoveryAttempts"] >= 1
    if view["nextDeadline"] is not None:
        assert view["nextDeadline"] > state.now
    if view["status"] == "healthy":
        assert circuit["state"] == "closed" and circuit["failureCount"] == 0
    assert state.status_since <= state.now


@BOUNDED
@given(logs())
def test_state_invariants_hold_after_every_event(bodies):
    state, previous_incidents = breaker.new_state("payments-api"), 0
    history, results, commands, moves = [], [], 0, []
    for source, offset, body in as_events(bodies):
        before = state.circuit
        state, out = breaker.fold(state, source, offset, body)
        _check_invariants(state)
        # every change of circuit is one transition, chained from where the circuit was
        these = [value for topic, value in out if topic == "breaker-transitions"]
        for move in these:
            assert move["from"] == before != move["to"]
            assert move["cause"]["input"] == {"source": source, "offset": offset}
            before = move["to"]
        assert before == state.circuit
        moves += these
        if moves:
            assert state.last_transition == moves[-1]
        # totalIncidents is a lifetime count: it never goes down
        assert state.total_incidents >= previous_incidents
        previous_incidents = state.total_incidents
        commands += "type" in body
        history += [value for topic, value in out if topic == "health-history"]
        results += [value for topic, value in out if topic == "command-results"]
    # every command is answered once, in order
    assert [r["commandId"] for r in results] == [b["commandId"] for b in bodies if "type" in b]
    # history periods are numbered 1, 2, 3 … and follow each other without gaps
    assert [h["seq"] for h in history] == list(range(1, len(history) + 1))
    for earlier, later in zip(history, history[1:]):
        assert earlier["status"] != later["status"]
    # transitions are numbered 1, 2, 3 …, one per circuit change
    assert [m["seq"] for m in moves] == list(range(1, len(moves) + 1)) and len(moves) == state.transitions
    # every incident belongs to exactly one period
    assert sum(h["incidents"] for h in history) + state.period_incidents == state.total_incidents


@BOUNDED
@given(logs())
def test_one_event_at_a_time_equals_one_batch_without_rollups(bodies):
    whole, whole_out = breaker.fold_batch(breaker.new_state("payments-api"), as_events(bodies), rollups=False)
    state, emitted = breaker.new_state("payments-api"), []
    for source, offset, body in as_events(bodies):
        state, out = breaker.fold(state, source, offset, body, rollups=False)
        emitted.extend(out)
    assert record_bytes(state) == record_bytes(whole)
    assert emitted == whole_out


def test_the_copies_of_a_state_carry_every_declared_field():
    # Given a state in which every field has a value other than its default
    state, _ = fold_all([outcome("failure", i) for i in range(5)] + [outcome("success", 40_000)])
    for name in breaker_state.FIELDS:
        assert hasattr(state, name)

    # Then a full copy records the same, and a batch clone the same but for the batch's locals
    assert breaker.state_to_record(breaker_state.copy_state(state)) == breaker.state_to_record(state)
    clone = breaker_state.clone_for_batch(state)
    for name in breaker_state.FIELDS:
        if name not in breaker_state.BATCH_LOCALS:
            assert getattr(clone, name) == getattr(state, name), name
    assert clone.offsets is not state.offsets and clone.rollups is not state.rollups
