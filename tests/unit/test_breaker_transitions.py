"""Every transition and status rule of docs/breaker-semantics.md, table-driven: a log in, the ServiceState out."""
from __future__ import annotations

import pytest

from fusebox.core import breaker
from fusebox.core.codec import dumps_sorted
from fusebox.core.isotime import iso_ms
from tests.unit.breaker_log import (T0, configure, fail, ok, rejected, reset, run, tick, timeout, view)


def at(ms: int) -> str:
    return iso_ms(T0 + ms)


OPENED = [fail(i) for i in range(5)]  # default threshold 5: opens at 4, half-open due at 30004
HALF_OPEN = OPENED + [tick(30_004)]
RECOVERED = HALF_OPEN + [ok(30_010)]  # closed at 30010, healthy due at 90010

CASES = [
    pytest.param([ok(0), fail(10)],
                 {"circuit.state": "closed", "circuit.failureCount": 1, "circuit.lastFailure": at(10),
                  "status": "degraded"},
                 id="a failure in closed is counted and makes the service degraded"),
    pytest.param([fail(0), fail(1), ok(2)],
                 {"circuit.state": "closed", "circuit.failureCount": 0, "circuit.lastFailure": at(1),
                  "status": "healthy"},
                 id="a success in closed clears the consecutive failures and the service is healthy"),
    pytest.param([timeout(0)],
                 {"circuit.failureCount": 1, "operations.failed": 1, "operations.total": 1},
                 id="a timeout counts as a failure"),
    pytest.param([fail(i) for i in range(4)],
                 {"circuit.state": "closed", "circuit.failureCount": 4, "status": "degraded",
                  "circuit.totalIncidents": 0},
                 id="failures below the threshold keep the breaker closed"),
    pytest.param(OPENED,
                 {"circuit.state": "open", "circuit.failureCount": 5, "circuit.totalIncidents": 1,
                  "circuit.openedAt": at(4), "status": "failed", "statusSince": at(4),
                  "nextDeadline": T0 + 30_004},
                 id="reaching the threshold opens the breaker as a new incident"),
    pytest.param([rejected(0), rejected(1)],
                 {"operations.rejected": 2, "operations.total": 0, "operations.successRate": 1.0,
                  "operations.lastOperation": None, "circuit.failureCount": 0, "status": "healthy"},
                 id="rejected outcomes are counted apart and never touch the circuit"),
    pytest.param(OPENED + [ok(100), fail(200), timeout(300)],
                 {"circuit.state": "open", "circuit.failureCount": 5, "circuit.lastFailure": at(4),
                  "circuit.openedAt": at(4), "operations.total": 8, "operations.successful": 1},
                 id="outcomes while open are counted but change nothing"),
    pytest.param(OPENED + [tick(30_003)],
                 {"circuit.state": "open", "circuit.recoveryAttempts": 0, "nextDeadline": T0 + 30_004},
                 id="a tick before the deadline leaves the breaker open"),
    pytest.param(OPENED + [tick(30_004)],
                 {"circuit.state": "half-open", "circuit.recoveryAttempts": 1, "status": "degraded",
                  "statusSince": at(30_004), "nextDeadline": None},
                 id="a tick at the deadline moves the breaker to half-open"),
    pytest.param(OPENED + [tick(45_000)],
                 {"circuit.state": "half-open", "circuit.recoveryAttempts": 1, "statusSince": at(30_004),
                  "updatedAt": at(45_000)},
                 id="a tick after the deadline moves the breaker to half-open as of the deadline"),
    pytest.param(OPENED + [rejected(30_004)],
                 {"circuit.state": "half-open", "circuit.recoveryAttempts": 1, "operations.rejected": 1},
                 id="any outcome at the deadline moves the breaker to half-open too"),
    pytest.param(HALF_OPEN + [fail(30_010)],
                 {"circuit.state": "open", "circuit.openedAt": at(30_010), "circuit.totalIncidents": 1,
                  "circuit.recoveryAttempts": 1, "circuit.failureCount": 6, "status": "failed",
                  "nextDeadline": T0 + 60_010},
                 id="the first failure in half-open reopens the same incident"),
    pytest.param(HALF_OPEN + [timeout(30_010)],
                 {"circuit.state": "open", "circuit.totalIncidents": 1},
                 id="a timeout in half-open reopens too"),
    pytest.param(RECOVERED,
                 {"circuit.state": "closed", "circuit.failureCount": 0, "circuit.recoveryAttempts": 0,
                  "circuit.openedAt": None, "circuit.totalIncidents": 1, "status": "degraded",
                  "nextDeadline": T0 + 90_010},
                 id="a success in half-open closes the breaker, degraded for the min-healthy period"),
    pytest.param([configure(0, request_limit=3)] + [fail(i) for i in range(1, 6)]
                 + [tick(30_005), ok(30_006), ok(30_007)],
                 {"circuit.state": "half-open", "status": "degraded"},
                 id="fewer than requestLimit successes keep the breaker half-open"),
    pytest.param([configure(0, request_limit=3)] + [fail(i) for i in range(1, 6)]
                 + [tick(30_005), ok(30_006), ok(30_007), ok(30_008)],
                 {"circuit.state": "closed", "circuit.failureCount": 0, "status": "degraded"},
                 id="requestLimit consecutive successes close the breaker"),
    pytest.param([configure(0, request_limit=3)] + [fail(i) for i in range(1, 6)]
                 + [tick(30_005), ok(30_006), ok(30_007), fail(30_008), tick(60_008), ok(60_009)],
                 {"circuit.state": "half-open", "circuit.recoveryAttempts": 2},
                 id="a failure between trial successes reopens and the count of successes starts over"),
    pytest.param(RECOVERED + [tick(90_009)],
                 {"circuit.state": "closed", "status": "degraded", "nextDeadline": T0 + 90_010},
                 id="a tick before the end of the min-healthy period leaves the service degraded"),
    pytest.param(RECOVERED + [tick(90_010)],
                 {"circuit.state": "closed", "status": "healthy", "statusSince": at(90_010),
                  "nextDeadline": None},
                 id="a tick at the end of the min-healthy period makes the service healthy"),
    pytest.param(RECOVERED + [ok(200_000)],
                 {"status": "healthy", "statusSince": at(90_010)},
                 id="an event after the min-healthy period makes the service healthy as of its end"),
    pytest.param(RECOVERED + [fail(30_020), tick(100_000)],
                 {"status": "degraded", "circuit.failureCount": 1, "nextDeadline": None},
                 id="a failure during the min-healthy period keeps the service degraded past its end"),
    pytest.param(RECOVERED + [fail(30_020), tick(100_000), ok(100_001)],
                 {"status": "healthy", "statusSince": at(100_001)},
                 id="a success after that makes the service healthy"),
    pytest.param([configure(0, min_healthy_period_ms=0)] + [fail(i) for i in range(1, 6)]
                 + [tick(30_005), ok(30_006)],
                 {"circuit.state": "closed", "status": "healthy", "nextDeadline": None},
                 id="with minHealthyPeriodMs 0 a recovered breaker is healthy at once"),
    pytest.param(OPENED + [reset(1_000)],
                 {"circuit.state": "half-open", "circuit.recoveryAttempts": 1, "circuit.failureCount": 5,
                  "status": "degraded", "statusSince": at(1_000), "nextDeadline": None},
                 id="a reset without force starts a trial on an open breaker now"),
    pytest.param([fail(0), fail(1), reset(10)],
                 {"circuit.state": "closed", "circuit.failureCount": 0, "circuit.lastFailure": None,
                  "status": "degraded", "nextDeadline": T0 + 60_010},
                 id="a reset without force clears a closed breaker's counters and starts the min-healthy period"),
    pytest.param(HALF_OPEN + [fail(30_005), tick(60_005), reset(60_010)],
                 {"circuit.state": "half-open", "circuit.failureCount": 0, "circuit.lastFailure": None,
                  "circuit.recoveryAttempts": 2, "circuit.totalIncidents": 1},
                 id="a reset without force clears a half-open breaker's counters and keeps the trial"),
    pytest.param(HALF_OPEN + [fail(30_005), reset(30_010, force=True)],
                 {"circuit.state": "closed", "circuit.failureCount": 0, "circuit.recoveryAttempts": 0,
                  "circuit.lastFailure": None, "circuit.openedAt": None, "circuit.totalIncidents": 1,
                  "status": "degraded", "nextDeadline": T0 + 90_010},
                 id="a forced reset closes an open breaker and clears all but the lifetime incidents"),
    pytest.param([fail(0), reset(5, force=True)],
                 {"circuit.state": "closed", "circuit.failureCount": 0, "status": "degraded"},
                 id="a forced reset of a closed breaker starts the min-healthy period"),
    pytest.param([fail(0), fail(1), fail(2), configure(3, failure_threshold=4), fail(4)],
                 {"circuit.state": "open", "circuit.openedAt": at(4), "config.failureThreshold": 4},
                 id="a config update mid-stream applies to the next events"),
    pytest.param([fail(0), fail(1), fail(2), configure(10, failure_threshold=2)],
                 {"circuit.state": "open", "circuit.openedAt": at(10), "circuit.totalIncidents": 1,
                  "status": "failed"},
                 id="lowering the threshold to or below the failure count opens the breaker at once"),
    pytest.param(OPENED + [configure(1_000, reset_timeout_ms=500)],
                 {"circuit.state": "half-open", "circuit.recoveryAttempts": 1, "statusSince": at(1_000)},
                 id="shortening resetTimeoutMs past the time already spent open starts the trial at once"),
    pytest.param(OPENED + [configure(10, reset_timeout_ms=60_000), tick(30_004)],
                 {"circuit.state": "open", "nextDeadline": T0 + 60_004},
                 id="lengthening resetTimeoutMs moves the deadline of an open breaker"),
    pytest.param(RECOVERED + [configure(30_020, min_healthy_period_ms=10)],
                 {"status": "healthy", "statusSince": at(30_020)},
                 id="shortening minHealthyPeriodMs past the time already spent ends the period at once"),
    pytest.param([ok(1_000), fail(500)],
                 {"operations.total": 2, "circuit.failureCount": 1, "circuit.lastFailure": at(500),
                  "operations.lastOperation": at(1_000), "updatedAt": at(1_000)},
                 id="an older event arriving late is counted but does not move time back"),
]


@pytest.mark.parametrize(("log", "expected"), CASES)
def test_the_breaker_follows_design_section_3(log, expected):
    # Given a log of outcomes and commands
    # When it is folded into a new breaker
    state, _ = run(log)
    # Then the ServiceState shows the expected fields
    shown = view(state)
    assert {path: shown[path] for path in expected} == expected


def test_a_config_update_is_answered_with_the_config_it_applied():
    # Given a breaker
    # When a config update arrives
    _, emitted = run([configure(0, failure_threshold=3, request_limit=2)])
    # Then the command result carries the applied config
    (topic, result), = emitted
    assert topic == "command-results"
    assert result["ok"] is True and result["type"] == "config.update"
    assert result["appliedAt"] == at(0)
    assert result["result"] == {"config": {"failureThreshold": 3, "resetTimeoutMs": 30_000,
                                           "minHealthyPeriodMs": 60_000, "requestLimit": 2}}


def test_a_reset_is_answered_with_the_state_before_it_and_the_circuit_after_it():
    # Given an open breaker
    state, _ = run(OPENED)
    # When it is reset without force
    _, emitted = run([reset(1_000)], state)
    # Then the result tells the state before and the circuit after
    result = [value for topic, value in emitted if topic == "command-results"][0]
    assert result["result"] == {"previousState": {"failureCount": 5, "lastFailure": at(4), "totalIncidents": 1},
                                "state": "half-open"}


def test_a_tick_is_answered_with_the_circuit_after_it():
    state, _ = run(OPENED)
    _, emitted = run([tick(30_004)], state)
    assert emitted[-1][0] == "command-results"
    assert emitted[-1][1]["result"] == {"state": "half-open"}


def test_an_invalid_config_update_is_refused_and_changes_nothing():
    # Given a breaker with two failures
    before, _ = run([fail(0), fail(1)])
    # When a config update with an invalid payload arrives at the same time
    bad = configure(1, failure_threshold=0)
    after, emitted = run([bad], before)
    # Then it is answered with VALIDATION_FAILED and the ServiceState is unchanged
    assert emitted == [("command-results", {
        "commandId": bad["commandId"], "service": bad["service"], "type": "config.update", "ok": False,
        "appliedAt": at(1), "error": {"code": "VALIDATION_FAILED",
                                      "message": "payload.failureThreshold must be between 1 and 10000"}})]
    assert dumps_sorted(breaker.to_service_state(after)) == dumps_sorted(breaker.to_service_state(before))


def test_a_tick_that_changes_nothing_does_not_change_the_version():
    before, _ = run([fail(0)])
    after, _ = run([tick(10)], before)
    assert after.version == before.version


def test_every_outcome_changes_the_version():
    state, _ = run([ok(0), fail(1), rejected(2), ok(3)])
    assert state.version == 4


def test_a_full_incident_leaves_one_history_entry_per_ended_status_period():
    # Given a healthy breaker that fails, opens, recovers and waits out the min-healthy period
    log = [ok(0)] + [fail(100 + i) for i in range(5)] + [tick(30_104), ok(30_200), tick(90_200)]
    # When it is folded
    _, emitted = run(log)
    # Then each ended period is one entry: healthy, degraded, failed, degraded
    history = [value for topic, value in emitted if topic == "health-history"]
    assert [(h["seq"], h["status"], h["timestamp"], h["duration"], h["incidents"]) for h in history] == [
        (1, "healthy", at(0), 100, 0),
        (2, "degraded", at(100), 4, 0),
        (3, "failed", at(104), 30_000, 1),
        (4, "degraded", at(30_104), 60_096, 0),
    ]
    assert history[2]["metrics"] == {
        "operations": {"total": 6, "successful": 1, "failed": 5, "rejected": 0},
        "failureCount": 5, "circuitState": "half-open", "recoveryAttempts": 1, "totalIncidents": 1}


def test_a_reopen_from_half_open_is_not_counted_as_another_incident_in_history():
    _, emitted = run(HALF_OPEN + [fail(30_010), tick(60_010)])
    failed = [value for topic, value in emitted if topic == "health-history" and value["status"] == "failed"]
    assert [h["incidents"] for h in failed] == [1, 0]


def test_a_failed_period_names_the_transition_into_open_that_began_it():
    # Given an incident that reopens from half-open, then recovers after a forced reset
    log = [ok(0)] + [fail(100 + i) for i in range(5)] + [tick(30_104), fail(30_110), reset(40_000, force=True)]
    # When it is folded
    _, emitted = run(log)
    transitions = {value["seq"]: value for topic, value in emitted if topic == "breaker-transitions"}
    history = [value for topic, value in emitted if topic == "health-history"]
    # Then each failed period references its transition into open, and no other period has one
    failed = [h for h in history if h["status"] == "failed"]
    assert [h["transitionSeq"] for h in failed] == [1, 3]
    assert [(transitions[h["transitionSeq"]]["to"], transitions[h["transitionSeq"]]["at"]) for h in failed] == [
        ("open", h["timestamp"]) for h in failed]
    assert [transitions[h["transitionSeq"]]["cause"]["rule"] for h in failed] == ["consecutive-failures",
                                                                                 "trial-failed"]
    assert all("transitionSeq" not in h for h in history if h["status"] != "failed")


def test_a_failed_period_that_began_before_transitions_were_recorded_names_none():
    # Given an open breaker whose stored record predates the transitions (format 2)
    state, _ = run(OPENED)
    record = breaker.state_to_record(state)
    for name in list(record):
        if name in ("failure_rate_threshold", "slow_call_rate_threshold", "slow_call_duration_ms",
                    "sliding_window_type", "sliding_window_size", "minimum_number_of_calls", "min_failing_instances",
                    "window", "recent_errors", "failing_instances", "last_transition", "period_transition"):
            del record[name]
    record["format"] = 2
    # When its failed period ends
    _, emitted = run([tick(30_004)], breaker.state_from_record(record))
    # Then the period is served without a reference rather than with one that was never emitted
    failed = [value for topic, value in emitted if topic == "health-history"]
    assert [h["status"] for h in failed] == ["failed"] and "transitionSeq" not in failed[0]


def test_the_first_event_of_a_service_does_not_leave_an_empty_period():
    _, emitted = run([fail(0)])
    assert [topic for topic, _ in emitted] == []


def test_history_and_the_command_result_come_out_in_the_order_they_happened():
    state, _ = run(OPENED)
    _, emitted = run([tick(30_004)], state)
    assert [topic for topic, _ in emitted] == ["breaker-transitions", "health-history", "command-results"]


def test_events_at_or_below_the_last_applied_offset_are_skipped():
    # Given a breaker that folded offsets 0..4 of a source
    state, _ = breaker.fold_batch(breaker.new_state("svc"), [("call-outcomes:1", i, fail(i)) for i in range(5)])
    # When offsets 3..5 are delivered again
    after, emitted = breaker.fold_batch(state, [("call-outcomes:1", i, fail(i)) for i in range(3, 6)])
    # Then only offset 5 is applied
    assert after.failed == 6
    assert after.offsets == {"call-outcomes:1": 5}


def test_offsets_are_kept_per_source():
    state, _ = breaker.fold_batch(breaker.new_state("svc"), [
        ("call-outcomes:1", 7, ok(0)), ("call-outcomes:2", 3, ok(1)), ("call-outcomes:1", 8, ok(2)),
        ("call-outcomes:2", 3, ok(3))])
    assert state.offsets == {"call-outcomes:1": 8, "call-outcomes:2": 3}
    assert state.successful == 3


def test_folding_never_changes_the_state_it_is_given():
    # Given a state and its bytes
    state, _ = run([fail(0), fail(1)])
    record_before = dumps_sorted(breaker.state_to_record(state))
    # When more events are folded into it, one at a time and in a batch
    run(OPENED[2:] + [tick(40_000), reset(41_000, force=True)], state)
    breaker.fold(state, "call-outcomes:0", 99, fail(50))
    # Then the state is unchanged
    assert dumps_sorted(breaker.state_to_record(state)) == record_before


def test_a_circuit_that_moves_and_comes_back_in_one_batch_counts_as_changed():
    # Given a half-open breaker
    before, _ = run(HALF_OPEN)
    # When one batch reopens it and the next trial begins
    after, _ = run([fail(30_010), tick(60_010)], before)
    # Then the circuit is where it was, yet reported as changed
    assert after.circuit == before.circuit == "half-open"
    assert breaker.changed_circuit(before, after)


def test_a_batch_that_leaves_the_circuit_alone_counts_as_unchanged():
    before, _ = run(HALF_OPEN)
    after, _ = run([tick(30_100), rejected(30_101)], before)
    assert not breaker.changed_circuit(before, after)


def test_success_rate_is_one_before_any_call_and_the_share_of_successes_after():
    assert breaker.to_service_state(breaker.new_state("svc"))["operations"]["successRate"] == 1.0
    state, _ = run([ok(0), ok(1), ok(2), fail(3), rejected(4)])
    assert breaker.to_service_state(state)["operations"]["successRate"] == 0.75


def test_next_deadline_is_none_for_a_healthy_closed_breaker():
    state, _ = run([ok(0)])
    assert breaker.next_deadline(state) is None
    assert breaker.next_deadline(breaker.new_state("svc")) is None


def test_a_state_survives_its_record_round_trip_exactly():
    from fusebox.core.codec import dumps, loads

    state, _ = run(HALF_OPEN + [ok(30_010), fail(30_011)])
    again = breaker.state_from_record(loads(dumps(breaker.state_to_record(state))))
    assert again == state
    assert dumps_sorted(breaker.state_to_record(again)) == dumps_sorted(breaker.state_to_record(state))
