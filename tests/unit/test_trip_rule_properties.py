"""Properties of the trip rules' window over random logs: its counts equal a brute-force count of
the log, chunked folding equals one event at a time, and a refold gives the same bytes."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusebox.core import breaker
from fusebox.core.breaker import window as window_module
from fusebox.core.codec import dumps, dumps_sorted, loads
from tests.unit.breaker_log import SERVICE, T0, as_events, command

BOUNDED = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INSTANCES = ["pod-a", "pod-b", "pod-c", "pod-d", "pod-e", "pod-f", "pod-g", None]
SLOW_MS = 50


@st.composite
def calls(draw, max_size: int = 120) -> list[dict]:
    """Outcomes mostly in time order, some late, some in the same second, some rejected."""
    bodies, clock = [], 0
    for index in range(draw(st.integers(1, max_size))):
        gap = draw(st.sampled_from([0, 1, 50, 400, 1_000, 2_500, -700, -4_000]))
        at = clock + gap if gap >= 0 else max(0, clock + gap)
        clock = max(clock, at)
        kind = draw(st.sampled_from(["success", "success", "failure", "timeout", "rejected"]))
        bodies.append({"service": SERVICE, "outcome": kind, "latencyMs": draw(st.sampled_from([5.0, 50.0, 51.0])),
                       "ts": T0 + at, "eventId": f"e{index}", "instance": draw(st.sampled_from(INSTANCES)),
                       "error": None if kind == "success" else draw(st.sampled_from(["A", "B", "C"]))})
    return bodies


def never_trips(kind: str, size: int) -> dict:
    # A quorum of 1,000 failing instances holds every rule back: the window just counts.
    return command("config.update", -1, {"failureThreshold": 10_000, "resetTimeoutMs": 30_000,
                                         "minHealthyPeriodMs": 0, "failureRateThreshold": 100,
                                         "slowCallRateThreshold": 100, "slowCallDurationMs": SLOW_MS,
                                         "slidingWindowType": kind, "slidingWindowSize": size,
                                         "minimumNumberOfCalls": 1, "minFailingInstances": 1_000})


def brute_force(bodies: list[dict], kind: str, size: int) -> dict:
    counted = [b for b in bodies if b["outcome"] != "rejected"]
    if kind == "count":
        inside = counted[-size:]
    else:
        now_second = max(b["ts"] for b in bodies) // 1000
        inside = [b for b in counted if b["ts"] // 1000 > now_second - size]
    per: dict[str | None, list[int]] = {}
    for b in inside:
        counts = per.setdefault(b["instance"], [0, 0])
        counts[0] += 1
        counts[1] += b["outcome"] != "success"
    return {"calls": len(inside), "failures": sum(b["outcome"] != "success" for b in inside),
            "timeouts": sum(b["outcome"] == "timeout" for b in inside),
            "slowCalls": sum(b["latencyMs"] > SLOW_MS for b in inside),
            "failingInstances": sum(1 for _, f in per.values() if f), "per": per}


@BOUNDED
@given(calls(), st.sampled_from(["count", "time"]), st.integers(1, 12))
def test_the_window_counts_equal_a_brute_force_count_over_the_log(bodies, kind, size):
    state, _ = breaker.fold_batch(breaker.new_state(SERVICE), as_events([never_trips(kind, size)] + bodies))
    view = breaker.to_service_state(state)["window"]
    expected = brute_force(bodies, kind, size)
    assert {key: view[key] for key in ("calls", "failures", "timeouts", "slowCalls", "failingInstances")} == {
        key: expected[key] for key in ("calls", "failures", "timeouts", "slowCalls", "failingInstances")}
    # the per-instance view: the top five by failures, then calls, then name; the rest summed
    ranked = sorted(expected["per"].items(), key=lambda item: (-item[1][1], -item[1][0], item[0] or ""))
    assert view["instances"]["top"] == [{"instance": name, "calls": c, "failures": f}
                                        for name, (c, f) in ranked[:5]]
    rest = ranked[5:]
    assert view["instances"]["others"] == {"instances": len(rest), "calls": sum(c for _, (c, _f) in rest),
                                           "failures": sum(f for _, (_c, f) in rest)}
    # bounded memory: a time window holds at most one bucket per second of its size
    if kind == "time":
        assert len(state.window["buckets"]) <= size
    else:
        assert len(state.window["ring"]) <= size


rule_configs = st.fixed_dictionaries({
    "failureThreshold": st.integers(1, 6), "resetTimeoutMs": st.integers(100, 3_000),
    "minHealthyPeriodMs": st.integers(0, 2_000)}, optional={
    "requestLimit": st.integers(1, 4),
    "failureRateThreshold": st.integers(1, 100),
    "slowCallRateThreshold": st.integers(1, 100),
    "slowCallDurationMs": st.just(SLOW_MS),
    "slidingWindowType": st.sampled_from(["count", "time"]),
    "slidingWindowSize": st.integers(1, 6),
    "minimumNumberOfCalls": st.integers(1, 6),
    "minFailingInstances": st.integers(1, 3)})


@st.composite
def rule_logs(draw) -> list[dict]:
    """Calls with trip rules configured, and ticks, resets and config changes between them."""
    bodies = [command("config.update", -1, draw(rule_configs))]
    for body in draw(calls(max_size=80)):
        bodies.append(body)
        roll = draw(st.integers(0, 30))
        at = body["ts"] - T0
        if roll == 0:
            bodies.append(command("tick", at + 3_000, None))
        elif roll == 1:
            bodies.append(command("breaker.reset", at, {"reason": "test", "force": draw(st.booleans())}))
        elif roll == 2:
            bodies.append(command("config.update", at, draw(rule_configs)))
    return bodies


@BOUNDED
@given(rule_logs(), st.lists(st.integers(0, 90), max_size=5))
def test_chunked_folding_through_stored_records_equals_one_event_at_a_time(bodies, cuts):
    events = as_events(bodies)
    one, one_out = breaker.new_state(SERVICE), []
    for source, offset, body in events:
        one, out = breaker.fold(one, source, offset, body)
        one_out.extend(out)
    bounds = sorted({0, len(events), *(c for c in cuts if c < len(events))})
    chunked, chunked_out = breaker.new_state(SERVICE), []
    for start, end in zip(bounds, bounds[1:]):
        chunked, out = breaker.fold_batch(chunked, events[start:end])
        chunked_out.extend(out)
        chunked = breaker.state_from_record(loads(dumps(breaker.state_to_record(chunked))))
    assert dumps_sorted(breaker.state_to_record(chunked)) == dumps_sorted(breaker.state_to_record(one))
    assert dumps_sorted(chunked_out) == dumps_sorted(one_out)


@BOUNDED
@given(rule_logs())
def test_refolding_with_rate_windows_gives_byte_identical_states_and_transitions(bodies):
    first, first_out = breaker.fold_batch(breaker.new_state(SERVICE), as_events(bodies))
    second, second_out = breaker.fold_batch(breaker.new_state(SERVICE), as_events(bodies))
    assert dumps(breaker.state_to_record(first)) == dumps(breaker.state_to_record(second))
    assert dumps(breaker.to_service_state(first)) == dumps(breaker.to_service_state(second))
    assert dumps(first_out) == dumps(second_out)


def test_the_random_logs_reach_every_rule():
    # The properties above are only as good as the rules their logs reach.
    seen: set[str] = set()

    @settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(rule_logs())
    def collect(bodies):
        _, out = breaker.fold_batch(breaker.new_state(SERVICE), as_events(bodies))
        seen.update(value["cause"]["rule"] for topic, value in out if topic == "breaker-transitions")

    collect()
    assert {"consecutive-failures", "failure-rate", "slow-call-rate", "reset-timeout-elapsed", "trial-succeeded",
            "trial-failed", "manual-reset", "forced-reset"} <= seen


def test_at_most_max_instances_are_counted_by_name():
    w = window_module.new_window("count", 1_000)
    for index in range(window_module.MAX_INSTANCES + 10):
        window_module.record(w, T0, window_module.FAILED, f"pod-{index}")
    assert len(w["instances"]) == window_module.MAX_INSTANCES + 1
    assert w["instances"][window_module.OTHER_INSTANCES] == [10, 10]
