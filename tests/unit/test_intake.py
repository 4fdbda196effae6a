"""The intake between the consumer's fetch loop and the fold: batches by size or by age, bounded."""
from __future__ import annotations

import asyncio
import time
from typing import NamedTuple

from fusebox.aggregator.intake import Fetched, Intake


class Record(NamedTuple):
    offset: int
    value: bytes = b"{}"


def fetched(tp: str, first: int, count: int, generation: int = 1) -> Fetched:
    return Fetched(tp, generation, [Record(offset) for offset in range(first, first + count)])


def current() -> bool:
    return True


async def parked(intake: Intake, put: asyncio.Future, timeout: float = 1.0) -> None:
    """Wait until a `put` is parked waiting for room (it cleared the intake's change event)."""
    deadline = time.monotonic() + timeout
    while intake._changed.is_set() and not put.done():
        assert time.monotonic() < deadline, "the put never waited for room"
        await asyncio.sleep(0)


async def test_a_full_batch_is_taken_at_once_and_in_arrival_order() -> None:
    intake = Intake({"in"}, max_batch=10, flush_interval_s=60.0, capacity=100)
    first, second, third = fetched("p0", 0, 4), fetched("p1", 0, 6), fetched("p0", 4, 3)
    await intake.put([first, second], current)
    await intake.put([third], current)
    taken = await asyncio.wait_for(intake.take(), 1.0)
    assert taken == [first, second]  # 10 records; the third chunk would exceed max_batch
    assert len(intake) == 3


async def test_a_partial_batch_is_taken_when_its_oldest_record_has_waited_one_interval() -> None:
    intake = Intake({"in"}, max_batch=1000, flush_interval_s=0.2, capacity=2000)
    await intake.put([fetched("p0", 0, 5)], current)
    started = time.monotonic()
    taken = await asyncio.wait_for(intake.take(), 5.0)
    waited = time.monotonic() - started
    assert [len(chunk.records) for chunk in taken] == [5]
    assert 0.15 <= waited < 2.0
    assert len(intake) == 0


async def test_a_chunk_larger_than_a_batch_is_taken_whole() -> None:
    intake = Intake({"in"}, max_batch=10, flush_interval_s=60.0, capacity=10)
    big = fetched("p0", 0, 25)
    await intake.put([big], current)
    assert await asyncio.wait_for(intake.take(), 1.0) == [big]


async def test_put_waits_while_the_intake_is_full_and_resumes_when_the_fold_takes() -> None:
    intake = Intake({"in"}, max_batch=10, flush_interval_s=60.0, capacity=20)
    await intake.put([fetched("p0", 0, 20)], current)
    blocked = asyncio.ensure_future(intake.put([fetched("p0", 20, 5)], current))
    await parked(intake, blocked)
    assert not blocked.done()
    await asyncio.wait_for(intake.take(), 1.0)
    assert await asyncio.wait_for(blocked, 1.0) is True
    assert len(intake) == 5


async def test_a_discard_drops_what_waits_and_a_put_that_stopped_being_current_is_dropped() -> None:
    intake = Intake({"in"}, max_batch=10, flush_interval_s=60.0, capacity=10)
    await intake.put([fetched("p0", 0, 10)], current)
    flow = {"active": True}
    blocked = asyncio.ensure_future(intake.put([fetched("p0", 10, 5)], lambda: flow["active"]))
    await parked(intake, blocked)
    flow["active"] = False  # a rebalance stopped the flow
    assert intake.discard() == 10 and intake.discards == 1
    assert await asyncio.wait_for(blocked, 1.0) is False
    assert len(intake) == 0
