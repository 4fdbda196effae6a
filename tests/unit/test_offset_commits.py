"""The fold's background commits: in order, one at a time, coalesced, and a failure not lost."""
from __future__ import annotations

import asyncio
from typing import NamedTuple

import pytest

from fusebox.aggregator.fold_loop import OffsetCommits
from fusebox.aggregator.intake import Fetched


class Record(NamedTuple):
    offset: int


def folded(tp: str, first: int, last: int) -> list[Fetched]:
    return [Fetched(tp, 1, [Record(offset) for offset in range(first, last + 1)])]


class Broker:
    """Commits that wait until the test lets them through."""

    def __init__(self) -> None:
        self.commits: list[dict] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.gate = asyncio.Event()

    async def commit(self, offsets: dict) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.gate.wait()
            self.commits.append(dict(offsets))
        finally:
            self.in_flight -= 1


async def test_batches_added_while_a_commit_is_in_flight_go_in_one_next_commit() -> None:
    broker = Broker()
    commits = OffsetCommits(broker.commit)
    commits.add(folded("p0", 0, 9))
    await asyncio.sleep(0)  # the first commit is now in flight, waiting on the gate
    commits.add(folded("p0", 10, 19) + folded("p1", 0, 4))
    commits.add(folded("p0", 20, 29))
    broker.gate.set()
    await asyncio.wait_for(commits.settled(), 5)
    assert broker.commits == [{"p0": 10}, {"p0": 30, "p1": 5}]
    assert broker.most_in_flight == 1


async def test_settled_waits_for_what_was_added() -> None:
    broker = Broker()
    commits = OffsetCommits(broker.commit)
    commits.add(folded("p0", 0, 4))
    waiter = asyncio.ensure_future(commits.settled())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    broker.gate.set()
    await asyncio.wait_for(waiter, 5)
    assert broker.commits == [{"p0": 5}]


async def test_an_offset_never_goes_back() -> None:
    broker = Broker()
    broker.gate.set()
    commits = OffsetCommits(broker.commit)
    commits.add(folded("p0", 0, 0))
    await asyncio.sleep(0)
    commits.add(folded("p0", 50, 59) + folded("p0", 10, 19))
    await asyncio.wait_for(commits.settled(), 5)
    assert broker.commits[-1] == {"p0": 60}


async def test_a_failed_commit_stops_the_fold_at_the_next_batch() -> None:
    async def refuse(offsets: dict) -> None:
        raise RuntimeError("broker gone")

    commits = OffsetCommits(refuse)
    commits.add(folded("p0", 0, 4))
    with pytest.raises(RuntimeError, match="broker gone"):
        await commits.settled()
    with pytest.raises(RuntimeError, match="broker gone"):
        commits.add(folded("p0", 5, 9))
