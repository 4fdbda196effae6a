"""The fold sees every input partition in offset order, without holes.

The fold skips an event at or below the offset its state remembers for the event's partition
(that is how redelivered records are folded once). This is exact only if the events of a
partition reach the fold in offset order with none missing in between: an event folded past a
hole would make the fold skip the hole's events if they ever came back. The consumer does not
promise that across a rebalance (records fetched in one generation can surface in the next, and a
fetch position can move on past records that were never handed over), so the aggregator checks it.

`DeliveryCursor` keeps, per partition, the next offset the fold expects in the current consumer
generation. A generation starts from the furthest of: the group's committed offset, one past the
highest offset the recovered states have applied, and the partition's first offset in the log.
The cursor checks the records of each fetched partition chunk (see intake.py): chunks are
admitted when they continue from the expected offset (records below it are redeliveries, which
the fold skips) and held back when they were fetched in an older generation or leave a hole. A
batch with a hole is not folded at all; the worker restarts from the committed offsets instead
(see `FoldLoop.fold_fetched` in fold_loop.py).
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

RESTART_EXIT_CODE = 75  # EX_TEMPFAIL: the worker asks `fusebox aggregator` for a new worker

Partition = Hashable


class Chunk(Protocol):
    """Records of one partition from one fetch, in the order they were read."""

    tp: Partition
    generation: int  # the consumer generation the fetch was made in
    records: Sequence[Any]  # each with an .offset


C = TypeVar("C", bound=Chunk)


@dataclass
class Admission(Generic[C]):
    admitted: list[C] = field(default_factory=list)
    held_back: list[C] = field(default_factory=list)
    holes: dict[Partition, tuple[int, int]] = field(default_factory=dict)  # partition -> (expected, arrived)


class DeliveryCursor:
    """Next expected offset per partition, for one consumer generation at a time."""

    def __init__(self) -> None:
        self.generation: int | None = None
        self.next_offset: dict[Partition, int] = {}

    def start_generation(self, generation: int, first_offsets: Mapping[Partition, int | None]) -> None:
        """Begin a generation; a partition's first record is expected at the offset given for it."""
        self.generation = generation
        self.next_offset = {tp: offset for tp, offset in first_offsets.items() if offset is not None and offset >= 0}

    def admit(self, chunks: Iterable[C]) -> Admission[C]:
        """Split a batch of chunks into the admitted ones and those held back, noting holes."""
        result: Admission[C] = Admission()
        next_offset = self.next_offset
        for chunk in chunks:
            tp, records = chunk.tp, chunk.records
            if chunk.generation != self.generation or tp in result.holes or not records:
                result.held_back.append(chunk)
                continue
            expected = next_offset.get(tp)
            first, last = records[0].offset, records[-1].offset
            if last - first == len(records) - 1:  # contiguous: only its first offset can leave a hole
                if expected is not None and first > expected:
                    result.holes[tp] = (expected, first)
                    result.held_back.append(chunk)
                    continue
            else:
                hole = _first_hole(records, expected)
                if hole is not None:
                    result.holes[tp] = hole
                    result.held_back.append(chunk)
                    continue
            # Records below the expected offset are redeliveries: the fold skips what it has applied.
            next_offset[tp] = last + 1 if expected is None else max(expected, last + 1)
            result.admitted.append(chunk)
        return result


def _first_hole(records: Sequence[Any], expected: int | None) -> tuple[int, int] | None:
    for record in records:
        offset = record.offset
        if expected is not None and offset > expected:
            return expected, offset
        expected = offset + 1 if expected is None else max(expected, offset + 1)
    return None


def first_offsets(partitions: Iterable[Partition], *sources: Mapping[Partition, int | None]) -> dict[Partition, int | None]:
    """The furthest of the candidate first offsets of each partition (None where none is known)."""
    result: dict[Partition, int | None] = {}
    for tp in partitions:
        known = [offset for source in sources if (offset := source.get(tp)) is not None and offset >= 0]
        result[tp] = max(known) if known else None
    return result
