"""The fold sees every input partition in offset order, without holes.

The fold skips an event at or below the offset its state remembers for the event's partition
(that is how redelivered records are folded once). This is exact only if the events of a
partition reach the fold in offset order with none missing in between: an event folded past a
hole would make the fold skip the hole's events if they ever came back. Faust's delivery does not
promise that across a rebalance (a record fetched before it can surface after it, and records in
flight can be dropped while the read position moves on), so the aggregator checks it.

`DeliveryCursor` keeps, per partition, the next offset the fold expects in the current consumer
generation. A generation starts from the furthest of: the group's committed offset, one past the
highest offset the recovered states have applied, and the partition's first offset in the log.
Each batch is split into admitted events (the expected offsets, and redeliveries below them,
which the fold skips) and held-back events: past a hole, or fetched in an older generation. A
batch with a hole is not folded at all; the worker restarts from the committed offsets instead
(see `Aggregator.fold_delivered`).
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

RESTART_EXIT_CODE = 75  # EX_TEMPFAIL: the worker asks `fusebox aggregator` for a new worker

Event = TypeVar("Event")
Partition = Hashable


@dataclass
class Admission(Generic[Event]):
    admitted: list[Event] = field(default_factory=list)
    held_back: list[Event] = field(default_factory=list)
    holes: dict[Partition, tuple[int, int]] = field(default_factory=dict)  # partition -> (expected, arrived)


class DeliveryCursor:
    """Next expected offset per partition, for one consumer generation at a time."""

    def __init__(self) -> None:
        self.generation: int | None = None
        self.next_offset: dict[Partition, int] = {}

    def start_generation(self, generation: int, first_offsets: Mapping[Partition, int | None]) -> None:
        """Begin a generation; a partition's first event is expected at the offset given for it."""
        self.generation = generation
        self.next_offset = {tp: offset for tp, offset in first_offsets.items() if offset is not None and offset >= 0}

    def admit(self, events: Iterable[Event],
              position: Callable[[Event], tuple[Partition, int, int]]) -> Admission[Event]:
        """Split a batch; `position(event)` is (partition, offset, generation of the fetch)."""
        result: Admission[Event] = Admission()
        next_offset = self.next_offset
        for event in events:
            tp, offset, generation = position(event)
            if generation != self.generation or tp in result.holes:
                result.held_back.append(event)
                continue
            expected = next_offset.get(tp)
            if expected is None or offset == expected:
                next_offset[tp] = offset + 1
                result.admitted.append(event)
            elif offset < expected:
                result.admitted.append(event)  # a redelivery: the fold skips what it has applied
            else:
                result.holes[tp] = (expected, offset)
                result.held_back.append(event)
        return result


def first_offsets(partitions: Iterable[Partition], *sources: Mapping[Partition, int | None]) -> dict[Partition, int | None]:
    """The furthest of the candidate first offsets of each partition (None where none is known)."""
    result: dict[Partition, int | None] = {}
    for tp in partitions:
        known = [offset for source in sources if (offset := source.get(tp)) is not None and offset >= 0]
        result[tp] = max(known) if known else None
    return result
