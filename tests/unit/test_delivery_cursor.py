"""The aggregator folds each input partition in offset order: a batch with a hole is not folded."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from fusebox.aggregator.delivery import DeliveryCursor, first_offsets


class Record(NamedTuple):
    offset: int


@dataclass
class Chunk:
    tp: str
    generation: int
    records: list[Record]


def chunk(tp: str, generation: int, *offsets: int) -> Chunk:
    return Chunk(tp, generation, [Record(offset) for offset in offsets])


def test_contiguous_chunks_from_the_first_offset_are_admitted() -> None:
    cursor = DeliveryCursor()
    cursor.start_generation(1, {"p0": 10, "p1": None})
    batch = [chunk("p0", 1, 10, 11), chunk("p1", 1, 3, 4), chunk("p0", 1, 12)]
    admission = cursor.admit(batch)
    assert admission.admitted == batch
    assert admission.held_back == [] and admission.holes == {}
    assert cursor.next_offset == {"p0": 13, "p1": 5}


def test_a_hole_between_chunks_holds_back_the_rest_of_its_partition() -> None:
    cursor = DeliveryCursor()
    cursor.start_generation(2, {"p0": 0, "p1": 0})
    cursor.admit([chunk("p0", 2, 0, 1)])
    # offsets 2 and 3 of p0 never arrive; 4 and 5 do, then 2 arrives late in the same batch
    late = chunk("p0", 2, 2)
    admission = cursor.admit([chunk("p0", 2, 4, 5), chunk("p1", 2, 0), late])
    assert admission.holes == {"p0": (2, 4)}
    assert admission.admitted == [chunk("p1", 2, 0)]
    assert admission.held_back == [chunk("p0", 2, 4, 5), late]
    assert cursor.next_offset["p0"] == 2


def test_a_hole_inside_a_chunk_is_found() -> None:
    cursor = DeliveryCursor()
    cursor.start_generation(1, {"p0": 5})
    admission = cursor.admit([chunk("p0", 1, 5, 6, 9, 10)])
    assert admission.admitted == [] and admission.holes == {"p0": (7, 9)}
    assert cursor.next_offset["p0"] == 5


def test_a_first_record_past_the_first_offset_is_a_hole() -> None:
    cursor = DeliveryCursor()
    cursor.start_generation(3, {"p0": 100})
    admission = cursor.admit([chunk("p0", 3, 105, 106)])
    assert admission.admitted == [] and admission.holes == {"p0": (100, 105)}


def test_a_partition_without_a_known_first_offset_starts_where_it_is_read() -> None:
    cursor = DeliveryCursor()
    cursor.start_generation(1, {})
    assert cursor.admit([chunk("p0", 1, 40, 41)]).holes == {}
    assert cursor.admit([chunk("p0", 1, 43)]).holes == {"p0": (42, 43)}


def test_redeliveries_below_the_expected_offset_are_admitted_for_the_fold_to_skip() -> None:
    cursor = DeliveryCursor()
    cursor.start_generation(1, {"p0": 7})
    cursor.admit([chunk("p0", 1, 7, 8)])
    admission = cursor.admit([chunk("p0", 1, 7, 8, 9)])
    assert admission.admitted == [chunk("p0", 1, 7, 8, 9)] and admission.holes == {}
    assert cursor.next_offset["p0"] == 10
    assert cursor.admit([chunk("p0", 1, 8)]).admitted == [chunk("p0", 1, 8)]
    assert cursor.next_offset["p0"] == 10


def test_chunks_fetched_in_an_older_generation_are_held_back() -> None:
    cursor = DeliveryCursor()
    cursor.start_generation(4, {"p0": 0})
    admission = cursor.admit([chunk("p0", 3, 0, 1), chunk("p0", 4, 0, 1)])
    assert admission.held_back == [chunk("p0", 3, 0, 1)] and admission.admitted == [chunk("p0", 4, 0, 1)]
    assert admission.holes == {}


def test_a_new_generation_starts_from_its_own_first_offsets() -> None:
    cursor = DeliveryCursor()
    cursor.start_generation(1, {"p0": 0})
    cursor.admit([chunk("p0", 1, 0, 1)])
    cursor.start_generation(2, {"p0": 50})
    assert cursor.admit([chunk("p0", 2, 50)]).admitted == [chunk("p0", 2, 50)]


def test_the_first_offset_is_the_furthest_known_one() -> None:
    committed = {"p0": 442, "p1": None, "p2": -1}
    applied = {"p0": 1222, "p1": 7}
    log_start = {"p0": 0, "p1": 0, "p2": 30}
    assert first_offsets(["p0", "p1", "p2", "p3"], committed, applied, log_start) == {
        "p0": 1222, "p1": 7, "p2": 30, "p3": None}
