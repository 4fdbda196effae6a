"""Input records reach the fold in whole fetches, below Faust's per-event streams.

Faust's stream path costs about 100 µs per record (a Message object, a task per delivery, an
Event, a channel queue, an ack): far more than folding the record. For the two input topics the
worker's consumer therefore hands each fetch to an `Intake` as aiokafka returned it, one list of
records per partition, and the fold takes them in batches. Faust still runs everything else: the
consumer group and its assignment, recovery of the state table from its changelog, the timers and
the web views. (The PostgreSQL sinks read the output topics through a group of their own:
sink_feed.py.)

    aiokafka fetch ─► IntakeConsumer.getmany ─┬─ call-outcomes, breaker-commands ─► Intake ─► fold
                      (faust_bridge.py)       └─ the table's changelog ─► Faust's recovery

Faust's acks never see these records, so the fold commits their offsets itself, after a batch's
outputs and states are acknowledged (see `FoldLoop.fold_fetched` in fold_loop.py). The consumer
that fills the intake leans on internals of faust-streaming: it lives with the others in
faust_bridge.py, which states what it relies on.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any



@dataclass(slots=True)
class Fetched:
    """The records of one input partition from one fetch, in offset order."""

    tp: Any  # faust TP (topic, partition)
    generation: int  # the consumer generation the fetch was made in
    records: Sequence[Any]  # aiokafka ConsumerRecords: .offset, .value
    arrived: float = field(default_factory=time.monotonic)


class Intake:
    """A bounded FIFO of fetches between the consumer's fetch loop and the fold.

    `take` returns once `max_batch` records are waiting or the oldest waiting record has waited
    `flush_interval_s`, so a state change is published at most one interval after it arrives, and
    under load every service's events of a whole batch are folded together. `put` waits while
    `capacity` records are waiting: the fetch loop slows down to the fold's pace.
    """

    def __init__(self, topics: set[str], max_batch: int, flush_interval_s: float, capacity: int) -> None:
        self.topics = topics
        self.max_batch = max_batch
        self.flush_interval_s = flush_interval_s
        self.capacity = max(capacity, max_batch)
        self._waiting: deque[Fetched] = deque()
        self._count = 0
        self._changed = asyncio.Event()
        self.discards = 0  # how many times the waiting fetches were dropped

    def __len__(self) -> int:
        return self._count

    async def put(self, fetched: list[Fetched], still_current: Callable[[], bool]) -> bool:
        """Queue fetched chunks once there is room; drop them if they stop being current meanwhile."""
        while self._count >= self.capacity:
            await self._wait_change()
            if not still_current():
                return False
        for item in fetched:
            self._waiting.append(item)
            self._count += len(item.records)
        self._changed.set()
        return True

    async def take(self) -> list[Fetched]:
        while True:
            if self._waiting:
                if self._count >= self.max_batch:
                    break
                remaining = self._waiting[0].arrived + self.flush_interval_s - time.monotonic()
                if remaining <= 0:
                    break
                await self._wait_change(remaining)
            else:
                await self._wait_change()
        taken: list[Fetched] = []
        count = 0
        while self._waiting and (not taken or count + len(self._waiting[0].records) <= self.max_batch):
            item = self._waiting.popleft()
            taken.append(item)
            count += len(item.records)
        self._count -= count
        self._changed.set()
        return taken

    def discard(self) -> int:
        """Drop every waiting fetch (a rebalance: they are read again from the committed offsets)."""
        dropped, self._count = self._count, 0
        self._waiting.clear()
        self.discards += 1
        self._changed.set()
        return dropped

    async def _wait_change(self, timeout: float | None = None) -> None:
        self._changed.clear()
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except asyncio.TimeoutError:
            pass
