"""The aggregator folds each input partition in offset order: a batch with a hole is not folded."""
from __future__ import annotations

from fusebox.aggregator.delivery import DeliveryCursor, first_offsets


def position(event: tuple[str, int, int]) -> tuple[str, int, int]:
    return event


def offsets(events) -> list[int]:
    return [offset for _, offset, _ in events]


def test_contiguous_events_from_the_first_offset_are_admitted() -> None:
    cursor = DeliveryCursor()
    cursor.start_generation(1, {"p0": 10, "p1": None})
    batch = [("p0", 10, 1), ("p1", 3, 1), ("p0", 11, 1), ("p1", 4, 1)]
    admission = cursor.admit(batch, position)
    assert admission.admitted == batch
    assert admission.held_back == [] and admission.holes == {}
    assert cursor.next_offset == {"p0": 12, "p1": 5}


def test_a_hole_holds_back_the_rest_of_its_partition() -> None:
    cursor = DeliveryCursor()
    cursor.start_generation(2, {"p0": 0, "p1": 0})
    cursor.admit([("p0", 0, 2), ("p0", 1, 2)], position)
    # offsets 2 and 3 of p0 never arrive; 4 does, then 2 arrives late in the same batch
    admission = cursor.admit([("p0", 4, 2), ("p1", 0, 2), ("p0", 2, 2), ("p0", 5, 2)], position)
    assert admission.holes == {"p0": (2, 4)}
    assert admission.admitted == [("p1", 0, 2)]
    assert offsets(admission.held_back) == [4, 2, 5]
    assert cursor.next_offset["p0"] == 2


def test_a_first_event_past_the_first_offset_is_a_hole() -> None:
    cursor = DeliveryCursor()
    cursor.start_generation(3, {"p0": 100})
    admission = cursor.admit([("p0", 105, 3)], position)
    assert admission.admitted == [] and admission.holes == {"p0": (100, 105)}


def test_redeliveries_below_the_expected_offset_are_admitted_for_the_fold_to_skip() -> None:
    cursor = DeliveryCursor()
    cursor.start_generation(1, {"p0": 7})
    cursor.admit([("p0", 7, 1), ("p0", 8, 1)], position)
    admission = cursor.admit([("p0", 7, 1), ("p0", 8, 1), ("p0", 9, 1)], position)
    assert offsets(admission.admitted) == [7, 8, 9] and admission.holes == {}
    assert cursor.next_offset["p0"] == 10


def test_events_fetched_in_an_older_generation_are_held_back() -> None:
    cursor = DeliveryCursor()
    cursor.start_generation(4, {"p0": 0})
    admission = cursor.admit([("p0", 0, 3), ("p0", 0, 4)], position)
    assert admission.held_back == [("p0", 0, 3)] and admission.admitted == [("p0", 0, 4)]
    assert admission.holes == {}


def test_a_new_generation_starts_from_its_own_first_offsets() -> None:
    cursor = DeliveryCursor()
    cursor.start_generation(1, {"p0": 0})
    cursor.admit([("p0", 0, 1), ("p0", 1, 1)], position)
    cursor.start_generation(2, {"p0": 50})
    assert offsets(cursor.admit([("p0", 50, 2)], position).admitted) == [50]


def test_the_first_offset_is_the_furthest_known_one() -> None:
    committed = {"p0": 442, "p1": None, "p2": -1}
    applied = {"p0": 1222, "p1": 7}
    log_start = {"p0": 0, "p1": 0, "p2": 30}
    assert first_offsets(["p0", "p1", "p2", "p3"], committed, applied, log_start) == {
        "p0": 1222, "p1": 7, "p2": 30, "p3": None}
