"""The trip rules of docs/trip-rules.md, table-driven: a log in, the circuit and every transition's cause out."""
from __future__ import annotations

from typing import Any

import pytest

from fusebox.core import breaker
from fusebox.core.breaker import trip
from fusebox.core.isotime import iso_ms
from fusebox.core.rules import config_issues
from tests.unit.breaker_log import (COMMANDS_SOURCE, OUTCOMES_SOURCE, SERVICE, T0, command, of_topic, reset, run,
                                    tick)

SEED = {"failureThreshold": 1000, "resetTimeoutMs": 30_000, "minHealthyPeriodMs": 0}


def rules(**trip_rules: Any) -> dict:
    """A config.update at T0 - 1: the seed's fields (consecutive failures out of reach) and `trip_rules`."""
    return command("config.update", -1, {**SEED, **trip_rules})


def call(kind: str, at: int, latency: float = 5.0, instance: str | None = "pod-a", error: str | None = None,
         n: int | None = None) -> dict:
    body = {"service": SERVICE, "outcome": kind, "latencyMs": latency, "ts": T0 + at,
            "eventId": f"{kind}-{at}" if n is None else f"{kind}-{at}-{n}", "instance": instance,
            "error": error if error is not None or kind == "success" else "Boom"}
    return body


def ok(at: int, **kw: Any) -> dict:
    return call("success", at, **kw)


def fail(at: int, **kw: Any) -> dict:
    return call("failure", at, **kw)


def timeout(at: int, **kw: Any) -> dict:
    return call("timeout", at, **kw)


def transitions(bodies: list[dict]) -> tuple[breaker.BreakerState, list[dict]]:
    state, emitted = run(bodies)
    return state, of_topic(emitted, "breaker-transitions")


def window(kind: str = "count", size: int = 10, calls: int = 0, failures: int = 0, timeouts: int = 0,
           slow: int = 0, failing: int = 0, top: list | None = None, others: tuple = (0, 0, 0)) -> dict:
    return {"type": kind, "size": size, "calls": calls, "failures": failures, "timeouts": timeouts,
            "slowCalls": slow, "failureRate": failures * 100.0 / calls if calls else 0.0,
            "slowCallRate": slow * 100.0 / calls if calls else 0.0, "failingInstances": failing,
            "instances": {"top": top or [], "others": {"instances": others[0], "calls": others[1],
                                                        "failures": others[2]}}}


def cause(rule: str, body: dict, offset: int, *, threshold=None, minimum=None, consecutive=0,
          failure_threshold=1000, window_=None, errors=(), failing=(), trial_rule=None) -> dict:
    is_command = "outcome" not in body
    return {"rule": rule, "trialRule": trial_rule, "threshold": threshold, "minimumNumberOfCalls": minimum,
            "consecutiveFailures": consecutive, "failureThreshold": failure_threshold, "window": window_,
            "errors": list(errors), "failingInstances": list(failing),
            "eventId": None if is_command else body["eventId"],
            "commandId": body["commandId"] if is_command else None,
            "input": {"source": COMMANDS_SOURCE if is_command else OUTCOMES_SOURCE, "offset": offset}}


def transition(frm: str, to: str, at: int, seq: int, why: dict) -> dict:
    return {"service": SERVICE, "from": frm, "to": to, "at": iso_ms(T0 + at), "seq": seq, "cause": why}


# ---------------------------------------------------------------------------------------------
# Closed: the rate rules over a count window

RATE_10 = rules(failureRateThreshold=50, slidingWindowSize=10, minimumNumberOfCalls=10)
FIVE_OK_FIVE_FAILED = [ok(i) for i in range(5)] + [fail(5 + i) for i in range(5)]


def test_below_the_minimum_number_of_calls_no_rate_trips():
    # Given a failure-rate rule of 50% that needs 10 calls / When 9 calls all fail
    state, moves = transitions([RATE_10] + [fail(i) for i in range(9)])
    # Then the breaker stays closed: a 100% rate over too few calls is no verdict
    assert state.circuit == "closed" and moves == []
    assert breaker.to_service_state(state)["window"]["failureRate"] == 100.0


def test_a_rate_exactly_at_the_threshold_opens_and_says_why():
    # Given 50% over 10 calls / When 5 successes then 5 failures (the 10th call makes it 5/10)
    state, moves = transitions([RATE_10] + FIVE_OK_FIVE_FAILED)
    # Then it opened on the 10th call, and the cause names the rule, the window and the call
    assert state.circuit == "open"
    assert moves == [transition("closed", "open", 9, 1, cause(
        "failure-rate", fail(9), 9, threshold=50, minimum=10, consecutive=5,
        window_=window(calls=10, failures=5, failing=1,
                       top=[{"instance": "pod-a", "calls": 10, "failures": 5}]),
        errors=["Boom"], failing=["pod-a"]))]
    assert breaker.to_service_state(state)["lastTransition"] == moves[0]


def test_a_rate_just_below_the_threshold_does_not_open():
    state, moves = transitions([RATE_10] + [ok(i) for i in range(6)] + [fail(6 + i) for i in range(4)])
    assert state.circuit == "closed" and moves == []


def test_the_count_window_keeps_only_the_last_calls():
    # Given 4 failures, then 10 successes that push them out of a window of 10
    log = [RATE_10] + [fail(i) for i in range(4)] + [ok(10 + i) for i in range(10)]
    state, moves = transitions(log + [fail(30 + i) for i in range(4)])
    # Then 4 more failures are 4/10, not 8/18: closed
    assert state.circuit == "closed" and moves == []
    view = breaker.to_service_state(state)["window"]
    assert (view["calls"], view["failures"], view["failureRate"]) == (10, 4, 40.0)


def test_a_count_window_caps_the_minimum_number_of_calls_at_its_size():
    # minimumNumberOfCalls 100 in a window of 10 calls: judged at 10, as resilience4j does
    state, moves = transitions([rules(failureRateThreshold=50, slidingWindowSize=10, minimumNumberOfCalls=100)]
                               + FIVE_OK_FIVE_FAILED)
    assert state.circuit == "open"
    assert moves[0]["cause"]["minimumNumberOfCalls"] == 10


def test_rejected_calls_are_not_calls_of_the_window():
    state, moves = transitions([RATE_10] + [call("rejected", i) for i in range(20)] + [fail(30)])
    assert state.circuit == "closed" and moves == []
    assert breaker.to_service_state(state)["window"]["calls"] == 1


def test_a_timeout_is_a_failure_and_counted_as_a_timeout_too():
    state, moves = transitions([RATE_10] + [ok(i) for i in range(5)] + [timeout(5 + i) for i in range(5)])
    assert state.circuit == "open"
    figures = moves[0]["cause"]["window"]
    assert (figures["failures"], figures["timeouts"]) == (5, 5)


# ---------------------------------------------------------------------------------------------
# Slow calls

SLOW_10 = rules(slowCallRateThreshold=50, slowCallDurationMs=100, slidingWindowSize=10, minimumNumberOfCalls=10)


def test_slow_calls_at_the_threshold_open_with_the_slow_call_rule():
    log = [SLOW_10] + [ok(i, latency=100.0) for i in range(5)] + [ok(5 + i, latency=100.5) for i in range(5)]
    state, moves = transitions(log)
    # 100 ms is not slow (strictly above the duration is), 100.5 ms is: 5 of 10
    assert state.circuit == "open"
    assert moves == [transition("closed", "open", 9, 1, cause(
        "slow-call-rate", log[-1], 9, threshold=50, minimum=10,
        window_=window(calls=10, slow=5, top=[{"instance": "pod-a", "calls": 10, "failures": 0}])))]


def test_a_call_slow_and_failed_at_once_counts_for_both_and_the_failure_rate_is_judged_first():
    log = [rules(failureRateThreshold=50, slowCallRateThreshold=50, slowCallDurationMs=100,
                 slidingWindowSize=4, minimumNumberOfCalls=4)]
    log += [ok(0), ok(1), fail(2, latency=500.0), fail(3, latency=500.0)]
    state, moves = transitions(log)
    assert state.circuit == "open"
    why = moves[0]["cause"]
    assert (why["rule"], why["threshold"]) == ("failure-rate", 50)
    assert (why["window"]["failures"], why["window"]["slowCalls"], why["window"]["slowCallRate"]) == (2, 2, 50.0)


def test_without_a_slow_call_rule_no_call_is_slow():
    state, _ = transitions([RATE_10] + [ok(i, latency=80_000.0) for i in range(3)])
    assert breaker.to_service_state(state)["window"]["slowCalls"] == 0


def test_the_slow_call_duration_defaults_to_a_minute():
    state, _ = transitions([rules(slowCallRateThreshold=50)] + [ok(0, latency=60_000.0), ok(1, latency=60_001.0)])
    assert breaker.to_service_state(state)["window"]["slowCalls"] == 1


# ---------------------------------------------------------------------------------------------
# The time window: event time, one bucket per second

TIME_10S = rules(failureRateThreshold=50, slidingWindowType="time", slidingWindowSize=10, minimumNumberOfCalls=4)


def test_a_time_window_trips_on_the_calls_of_its_seconds():
    log = [TIME_10S, fail(0), fail(1_000), ok(5_000), ok(6_000)]
    state, moves = transitions(log)
    assert state.circuit == "open"
    assert moves[0]["cause"]["window"] == window(
        "time", 10, calls=4, failures=2, failing=1, top=[{"instance": "pod-a", "calls": 4, "failures": 2}])


def test_the_time_window_slides_past_old_buckets():
    # Failures in seconds 0..3; at second 13 the window is seconds 4..13 and holds none of them
    # (counted with them, 4 of 6 would open)
    six = rules(failureRateThreshold=50, slidingWindowType="time", slidingWindowSize=10, minimumNumberOfCalls=6)
    log = [six] + [fail(i * 1_000) for i in range(4)] + [ok(13_000 + i) for i in range(2)]
    state, moves = transitions(log)
    assert state.circuit == "closed" and moves == []
    view = breaker.to_service_state(state)["window"]
    assert (view["calls"], view["failures"]) == (2, 0)
    assert len(state.window["buckets"]) == 1  # the old buckets are gone, not just discounted


def test_a_time_window_seen_later_has_lost_the_calls_time_has_left_behind():
    state, _ = transitions([TIME_10S, fail(0), fail(1)])
    state, _ = run([tick(11_000)], state)
    assert breaker.to_service_state(state)["window"]["calls"] == 0
    assert state.window["calls"] == 2  # the stored window is trimmed by the next call, the view at once


def test_a_late_call_older_than_the_time_window_is_not_counted():
    state, _ = transitions([TIME_10S, ok(20_000), fail(5_000)])
    assert breaker.to_service_state(state)["window"]["calls"] == 1
    state, _ = transitions([TIME_10S, ok(20_000), fail(15_000)])  # late but within the window: counted
    assert breaker.to_service_state(state)["window"]["failures"] == 1


def test_the_time_window_keeps_one_bucket_per_second_however_many_calls():
    state, _ = transitions([TIME_10S] + [ok(i) for i in range(500)])
    assert len(state.window["buckets"]) == 1 and state.window["calls"] == 500


# ---------------------------------------------------------------------------------------------
# Half-open: requestLimit trial calls, judged by the same rules

HALF_OPEN_RATE = [rules(failureRateThreshold=50, slidingWindowSize=4, minimumNumberOfCalls=4, requestLimit=4),
                  fail(0), fail(1), fail(2), fail(3), tick(30_003)]


def test_trials_under_the_rate_close_the_breaker_once_every_trial_is_in():
    log = HALF_OPEN_RATE + [ok(30_010), fail(30_011), ok(30_012)]
    state, _ = transitions(log)
    assert state.circuit == "half-open"  # 3 trials of 4: no verdict yet, and one failure fails nothing
    state, moves = transitions(log + [ok(30_013)])
    assert state.circuit == "closed"
    assert [m["cause"]["rule"] for m in moves] == ["failure-rate", "reset-timeout-elapsed", "trial-succeeded"]
    assert moves[2]["cause"]["window"] == window(calls=4, failures=1, size=4, failing=1,
                                                 top=[{"instance": "pod-a", "calls": 4, "failures": 1}])
    assert breaker.to_service_state(state)["window"]["calls"] == 0  # closed: a fresh window


def test_trials_at_the_rate_fail_and_name_the_rate_they_crossed():
    log = HALF_OPEN_RATE + [ok(30_010), fail(30_011), ok(30_012), fail(30_013)]
    state, moves = transitions(log)
    assert state.circuit == "open"
    assert moves[-1] == transition("half-open", "open", 30_013, 3, cause(
        "trial-failed", log[-1], 7, threshold=50, minimum=4, consecutive=6, trial_rule="failure-rate",
        failure_threshold=1000, window_=window(size=4, calls=4, failures=2, failing=1,
                                               top=[{"instance": "pod-a", "calls": 4, "failures": 2}]),
        errors=["Boom"], failing=["pod-a"]))
    assert state.total_incidents == 1  # the same incident


def test_slow_trials_fail_the_trial_under_the_slow_call_rule():
    log = [rules(slowCallRateThreshold=50, slowCallDurationMs=100, slidingWindowSize=2, minimumNumberOfCalls=2,
                 requestLimit=2),
           ok(0, latency=200.0), ok(1, latency=200.0), tick(30_001), ok(30_010), ok(30_011, latency=300.0)]
    state, moves = transitions(log)
    assert state.circuit == "open"
    assert (moves[-1]["cause"]["rule"], moves[-1]["cause"]["trialRule"]) == ("trial-failed", "slow-call-rate")


def test_without_a_failure_rate_rule_the_first_failed_trial_fails_the_trial():
    log = [rules(slowCallRateThreshold=50, slowCallDurationMs=100, slidingWindowSize=2, minimumNumberOfCalls=2,
                 requestLimit=3),
           ok(0, latency=200.0), ok(1, latency=200.0), tick(30_001), fail(30_010)]
    state, moves = transitions(log)
    assert state.circuit == "open"
    assert (moves[-1]["cause"]["rule"], moves[-1]["cause"]["trialRule"]) == ("trial-failed", None)


def test_the_seed_half_open_is_unchanged_under_a_quorum_alone():
    log = [rules(minFailingInstances=1, requestLimit=2), tick(0)]
    log += [fail(i) for i in range(1000)] + [tick(40_000), ok(40_001), ok(40_002)]
    state, moves = transitions(log)
    assert state.circuit == "closed"
    assert [m["cause"]["rule"] for m in moves] == ["consecutive-failures", "reset-timeout-elapsed",
                                                   "trial-succeeded"]


# ---------------------------------------------------------------------------------------------
# Instances: the per-instance view and the quorum

def test_a_quorum_of_instances_holds_the_breaker_closed_while_one_instance_fails():
    log = [rules(failureRateThreshold=50, slidingWindowSize=10, minimumNumberOfCalls=4, minFailingInstances=2)]
    log += [fail(i, instance="pod-a") for i in range(8)]
    state, moves = transitions(log)
    assert state.circuit == "closed" and moves == []  # 100% failing, but one pod only
    state, moves = transitions(log + [fail(100, instance="pod-b")])
    assert state.circuit == "open"
    why = moves[0]["cause"]
    assert (why["rule"], why["window"]["failingInstances"], why["failingInstances"]) == (
        "failure-rate", 2, ["pod-a", "pod-b"])


def test_the_quorum_applies_to_consecutive_failures_too():
    log = [rules(minFailingInstances=2) | {"payload": {**SEED, "failureThreshold": 3, "minFailingInstances": 2}}]
    state, moves = transitions(log + [fail(i, instance="pod-a") for i in range(5)])
    assert state.circuit == "closed"
    state, moves = transitions(log + [fail(i, instance="pod-a") for i in range(5)] + [fail(9, instance="pod-b")])
    assert state.circuit == "open" and moves[0]["cause"]["rule"] == "consecutive-failures"


def test_the_instances_view_shows_the_top_five_by_failures_and_sums_the_rest():
    log = [rules(failureRateThreshold=100, slidingWindowSize=100, minimumNumberOfCalls=100)]
    for index, name in enumerate(["a", "b", "c", "d", "e", "f", "g"]):
        log += [fail(index * 10 + i, instance=name, n=i) for i in range(index)]
        log += [ok(index * 10 + 9, instance=name)]
    log += [ok(200, instance=None)]
    state, _ = transitions(log)
    instances = breaker.to_service_state(state)["window"]["instances"]
    assert instances["top"] == [{"instance": name, "calls": n + 1, "failures": n}
                                for name, n in (("g", 6), ("f", 5), ("e", 4), ("d", 3), ("c", 2))]
    # b (1 failure of 2), a (0 of 1), and the call without an instance
    assert instances["others"] == {"instances": 3, "calls": 4, "failures": 1}


# ---------------------------------------------------------------------------------------------
# The seed's rule, commands, and their causes

def test_the_seed_rule_opens_with_a_cause_naming_consecutive_failures():
    log = [fail(0, error="ConnectionRefused", instance="pod-a"), timeout(1, error="ReadTimeout", instance="pod-b"),
           fail(2, error="ConnectionRefused", instance="pod-a"), fail(3, error="Reset", instance=None),
           fail(4, error="ConnectionRefused", instance="pod-c")]
    state, moves = transitions(log)
    assert moves == [transition("closed", "open", 4, 1, cause(
        "consecutive-failures", log[-1], 4, threshold=5, consecutive=5, failure_threshold=5,
        errors=["ReadTimeout", "Reset", "ConnectionRefused"], failing=["pod-b", "pod-a", "pod-c"]))]
    assert breaker.to_service_state(state)["window"] is None


def test_errors_and_failing_instances_are_bounded():
    log = [fail(i, error=f"E{i}" + "x" * 300, instance=f"pod-{i}") for i in range(5)]
    state, moves = transitions([rules() | {"payload": {**SEED, "failureThreshold": 5}}] + log)
    why = moves[0]["cause"]
    assert len(why["errors"]) == 5 and all(len(e) == 200 for e in why["errors"])
    state, moves = transitions([rules() | {"payload": {**SEED, "failureThreshold": 8}}]
                               + [fail(i, error=f"E{i}", instance=f"pod-{i}") for i in range(8)])
    why = moves[0]["cause"]
    assert why["errors"] == ["E3", "E4", "E5", "E6", "E7"]
    assert why["failingInstances"] == ["pod-3", "pod-4", "pod-5", "pod-6", "pod-7"]


def test_a_tick_past_the_timeout_half_opens_naming_the_tick():
    wake = tick(30_004)
    state, moves = transitions([fail(i) for i in range(5)] + [wake])
    assert moves[1] == transition("open", "half-open", 30_004, 2, cause(
        "reset-timeout-elapsed", wake, 0, consecutive=5, failure_threshold=5, errors=["Boom"],
        failing=["pod-a"]))


def test_resets_name_themselves():
    opened = [fail(i) for i in range(5)]
    manual = reset(100)
    _, moves = transitions(opened + [manual])
    assert moves[-1]["from"] == "open" and moves[-1]["to"] == "half-open"
    assert moves[-1]["cause"]["rule"] == "manual-reset"
    assert moves[-1]["cause"]["commandId"] == manual["commandId"]
    forced = reset(200, force=True)
    state, moves = transitions(opened + [forced])
    assert (moves[-1]["from"], moves[-1]["to"], moves[-1]["cause"]["rule"]) == ("open", "closed", "forced-reset")
    assert state.recent_errors == [] and state.failing_instances == []


def test_a_forced_reset_of_a_closed_breaker_is_no_transition():
    _, moves = transitions([fail(0), reset(10, force=True)])
    assert moves == []


def test_a_config_update_that_makes_the_window_trip_opens_at_once():
    log = [rules(failureRateThreshold=90, slidingWindowSize=4, minimumNumberOfCalls=4)]
    log += [ok(0), fail(1), fail(2), fail(3)]
    state, moves = transitions(log)
    assert state.circuit == "closed"
    # The same window shape with a lower threshold keeps its calls and is judged now
    lower = command("config.update", 10, {**SEED, "failureRateThreshold": 75, "slidingWindowSize": 4,
                                          "minimumNumberOfCalls": 4})
    state, moves = run([lower], state)
    moves = of_topic(moves, "breaker-transitions")
    assert state.circuit == "open"
    assert (moves[0]["cause"]["rule"], moves[0]["cause"]["commandId"]) == ("failure-rate", lower["commandId"])


def test_a_window_of_another_shape_starts_empty():
    state, _ = transitions([RATE_10, fail(0), fail(1)])
    state, _ = run([command("config.update", 10, {**SEED, "failureRateThreshold": 50, "slidingWindowSize": 20})],
                   state)
    assert breaker.to_service_state(state)["window"]["calls"] == 0
    state, _ = run([command("config.update", 20, SEED)], state)
    assert state.window is None and breaker.to_service_state(state)["window"] is None


def test_a_config_of_the_seed_fields_reads_back_as_the_seed_config():
    state, emitted = run([command("config.update", 0, {"failureThreshold": 3, "resetTimeoutMs": 1000,
                                                       "minHealthyPeriodMs": 0})])
    assert of_topic(emitted, "command-results")[0]["result"] == {"config": {
        "failureThreshold": 3, "resetTimeoutMs": 1000, "minHealthyPeriodMs": 0, "requestLimit": None}}
    assert state.window is None


def test_a_stored_state_of_the_previous_format_loads_with_the_new_fields_empty():
    state, _ = run([fail(0)])
    record = breaker.state_to_record(state)
    old = {key: value for key, value in record.items() if key not in (
        "failure_rate_threshold", "slow_call_rate_threshold", "slow_call_duration_ms", "sliding_window_type",
        "sliding_window_size", "minimum_number_of_calls", "min_failing_instances", "window", "recent_errors",
        "failing_instances", "last_transition")} | {"format": 2}
    loaded = breaker.state_from_record(old)
    assert (loaded.window, loaded.recent_errors, loaded.last_transition) == (None, [], None)
    assert loaded.failure_count == 1


# ---------------------------------------------------------------------------------------------
# Validation of the new fields

@pytest.mark.parametrize("extra, issue", [
    ({"failureRateThreshold": 0}, ("failureRateThreshold", "must be between 1 and 100")),
    ({"failureRateThreshold": 101}, ("failureRateThreshold", "must be between 1 and 100")),
    ({"failureRateThreshold": 50.0}, ("failureRateThreshold", "must be an integer")),
    ({"slowCallRateThreshold": True}, ("slowCallRateThreshold", "must be an integer")),
    ({"slowCallDurationMs": 0}, ("slowCallDurationMs", "must be between 1 and 86400000")),
    ({"slidingWindowType": "sliding"}, ("slidingWindowType", "must be one of count, time")),
    ({"slidingWindowSize": 1001}, ("slidingWindowSize", "must be between 1 and 1000")),
    ({"slidingWindowType": "time", "slidingWindowSize": 3601}, ("slidingWindowSize", "must be between 1 and 3600")),
    ({"minimumNumberOfCalls": 0}, ("minimumNumberOfCalls", "must be between 1 and 10000")),
    ({"minFailingInstances": "2"}, ("minFailingInstances", "must be an integer")),
    ({"slidingWindowsize": 10}, ("slidingWindowsize", "unknown field")),
], ids=lambda value: str(value))
def test_each_new_field_is_checked(extra, issue):
    issues = config_issues({**SEED, **extra})
    assert [(i["field"], i["issue"]) for i in issues] == [issue]


def test_a_time_window_may_be_longer_than_a_count_window():
    assert config_issues({**SEED, "slidingWindowType": "time", "slidingWindowSize": 3600}) == []


def test_an_invalid_rule_in_a_command_is_refused_and_changes_nothing():
    bad = command("config.update", 0, {**SEED, "failureRateThreshold": 0})
    state, emitted = run([bad])
    result = of_topic(emitted, "command-results")[0]
    assert result["ok"] is False and result["error"]["code"] == "VALIDATION_FAILED"
    assert "failureRateThreshold" in result["error"]["message"]
    assert state.failure_rate_threshold is None and state.window is None


def test_the_defaults_are_resilience4j_defaults():
    state, _ = run([rules(failureRateThreshold=50)])
    assert (state.window["type"], state.window["size"]) == ("count", 100)
    assert trip.minimum_calls(state, state.window) == 100


def test_the_api_answers_a_bad_rule_with_validation_failed_naming_each_field():
    from fusebox.api.errors import ApiError
    from fusebox.api.validation import validate_config_update

    with pytest.raises(ApiError) as refused:
        validate_config_update({**SEED, "failureRateThreshold": 0, "slidingWindowType": "time",
                                "slidingWindowSize": 7200})
    assert (refused.value.status, refused.value.code) == (400, "VALIDATION_FAILED")
    assert refused.value.details == [
        {"field": "failureRateThreshold", "issue": "must be between 1 and 100"},
        {"field": "slidingWindowSize", "issue": "must be between 1 and 3600"}]
