"""The worker's deadline index: each passed deadline is ticked once, and a rebuild keeps what still holds."""
from __future__ import annotations

from fusebox.aggregator.deadlines import Deadlines


def test_a_passed_deadline_is_due_until_it_is_ticked_and_then_only_when_it_moves():
    deadlines = Deadlines()
    deadlines.set("payments-api", 1_000)
    deadlines.set("search", 5_000)
    assert deadlines.due(999) == []
    assert deadlines.due(1_000) == [("payments-api", 1_000)]
    deadlines.mark_ticked(deadlines.due(1_000))
    assert deadlines.due(2_000) == []
    deadlines.set("payments-api", 1_500)  # the fold answered with a new deadline
    assert deadlines.due(2_000) == [("payments-api", 1_500)]


def test_a_cleared_deadline_is_never_due():
    deadlines = Deadlines()
    deadlines.set("payments-api", 1_000)
    deadlines.set("payments-api", None)
    assert deadlines.due(10_000) == [] and len(deadlines) == 0


def test_a_rebuild_keeps_the_ticks_of_unchanged_deadlines_only():
    # Given two ticked deadlines
    deadlines = Deadlines()
    deadlines.set("a", 1_000)
    deadlines.set("b", 2_000)
    deadlines.mark_ticked(deadlines.due(3_000))

    # When the worker's services are rebuilt from its table: a unchanged, b moved, c new
    deadlines.rebuild({"a": 1_000, "b": 2_500, "c": 500})

    # Then only a's tick is remembered
    assert sorted(deadlines.due(3_000)) == [("b", 2_500), ("c", 500)]
    assert len(deadlines) == 3
