"""Where a command lands among outcomes (`appliedAfter`), and replay's way of putting it back."""
from __future__ import annotations

from hypothesis import given

from fusebox.core import breaker
from fusebox.core.codec import dumps_sorted
from tests.unit.breaker_log import as_events, fail, of_topic, ok, reset, tick
from tests.unit.test_breaker_properties import BOUNDED, logs


def reinterleave(events: list[tuple[str, int, dict]], emitted: list[tuple[str, dict]]):
    """Replay's order: outcomes in log order, each command put back by its `appliedAfter`."""
    # One CommandResult per command, in log order (the test logs may repeat a commandId).
    results = iter(of_topic(emitted, "command-results"))
    queue = breaker.CommandQueue()
    for event in events:
        if "outcome" not in event[2]:
            queue.add("payments-api", next(results)["appliedAfter"], event)
    order = []
    for event in events:
        if "outcome" in event[2]:
            order.extend(queue.due_before("payments-api", event[1]))
            order.append(event)
    return order + queue.remaining("payments-api")


def test_a_command_records_the_last_outcome_folded_before_it():
    # Given outcomes 0 and 1, a reset, outcome 2, a tick
    events = as_events([fail(0), fail(10), reset(20), ok(30), tick(40)])

    # When they are folded in command order
    _state, emitted = breaker.fold_in_command_order(breaker.new_state("payments-api"), events)

    # Then each CommandResult names the outcome it followed
    results = of_topic(emitted, "command-results")
    assert [r["appliedAfter"] for r in results] == [{"call-outcomes:0": 1}, {"call-outcomes:0": 2}]


def test_a_command_before_any_outcome_records_nothing_and_replays_first():
    events = as_events([tick(0), ok(10)])
    _state, emitted = breaker.fold_in_command_order(breaker.new_state("payments-api"), events)
    assert of_topic(emitted, "command-results")[0]["appliedAfter"] == {}
    assert breaker.position_of({}) == -1
    assert reinterleave(events, emitted) == events


def test_commands_after_the_last_outcome_come_back_in_log_order():
    events = as_events([ok(0), reset(10), tick(20)])
    _state, emitted = breaker.fold_in_command_order(breaker.new_state("payments-api"), events)
    queue = breaker.CommandQueue()
    for event in events[1:]:
        queue.add("payments-api", {"call-outcomes:0": 0}, event)
    assert queue.due_before("payments-api", 0) == []
    assert queue.services() == {"payments-api"}
    assert queue.remaining("payments-api") == events[1:]
    assert queue.services() == set()
    assert reinterleave(events, emitted) == events


@BOUNDED
@given(logs())
def test_replay_puts_every_command_back_where_the_fold_applied_it(bodies):
    # Given a log folded as a worker folds it, recording where the commands landed
    events = as_events(bodies)
    live, emitted = breaker.fold_in_command_order(breaker.new_state("payments-api"), events)

    # When replay re-interleaves outcomes and commands by appliedAfter
    order = reinterleave(events, emitted)

    # Then the order is the live one, and folding it gives the same state
    assert order == events
    rebuilt, _ = breaker.fold_batch(breaker.new_state("payments-api"), order)
    assert dumps_sorted(breaker.state_to_record(rebuilt)) == dumps_sorted(breaker.state_to_record(live))


@BOUNDED
@given(logs())
def test_folding_in_command_order_equals_folding_at_once_but_for_applied_after(bodies):
    events = as_events(bodies)
    placed, placed_out = breaker.fold_in_command_order(breaker.new_state("payments-api"), events)
    whole, whole_out = breaker.fold_batch(breaker.new_state("payments-api"), events)
    assert breaker.state_to_record(placed) == breaker.state_to_record(whole)
    assert [(t, {k: v for k, v in value.items() if k != "appliedAfter"}) for t, value in placed_out] == whole_out
