"""The fold loop's order of sends: outputs, then changelog records (overlapping the next batch), then the commit.

The loop runs on a real Intake, StoredStates and fold, with a recording stand-in for the producer and
the consumer's commit; the integration suite runs the same loop on the real broker.
"""
from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import NamedTuple

import orjson
import pytest

from fusebox.aggregator.deadlines import Deadlines
from fusebox.aggregator.fold_loop import FoldLoop
from fusebox.aggregator.intake import Fetched, Intake
from fusebox.aggregator.settings import AggregatorSettings
from fusebox.aggregator.stored_states import StoredStates
from fusebox.core.topics import ALL_TOPICS, CALL_OUTCOMES

INPUT = "t.call-outcomes"
CHANGELOG = "t.breakers-changelog"


class Record(NamedTuple):
    offset: int
    key: bytes
    value: bytes
    timestamp: int


class TP(NamedTuple):
    topic: str
    partition: int


def outcome(offset: int, service: str = "svc-a") -> Record:
    body = {"service": service, "outcome": "success", "latencyMs": 3.0, "ts": 1_700_000_000_000 + offset,
            "eventId": f"00000000-0000-4000-8000-{offset:012d}"}
    return Record(offset, service.encode(), orjson.dumps(body), 1_700_000_000_000 + offset)


class Store(dict):
    def put(self, key: bytes, record: bytes) -> None:
        self[key] = record


class Bridge:
    generation = 1
    group = "t"

    def __init__(self, log: list) -> None:
        self.log = log

    def assignment(self):
        return iter(())

    def highwater(self, tp):
        return None

    async def commit(self, offsets: dict) -> None:
        self.log.append(("commit", offsets[TP(INPUT, 0)]))

    def changelog_messages(self, stored):
        return [(CHANGELOG, key, record, None) for key, record in stored]


class Publisher:
    """Acknowledges changelog records only when the test says so; may refuse them."""

    def __init__(self, log: list) -> None:
        self.log = log
        self.changelog_acks = asyncio.Queue()

    async def publish(self, messages, partitions=None) -> None:
        topic = messages[0][0]
        if topic == CHANGELOG:
            self.log.append(("changelog sent", len(messages)))
            outcome_of_ack = await self.changelog_acks.get()
            if isinstance(outcome_of_ack, Exception):
                raise outcome_of_ack
            self.log.append(("changelog acked", len(messages)))
        else:
            self.log += [("state published", orjson.loads(value)["operations"]["total"])
                         for topic, _key, value, _headers in messages if topic == "t.breaker-states"]


class LiveRollups:
    def changed(self, service: str) -> None:
        pass


def fold_loop(log: list) -> tuple[FoldLoop, Intake, Publisher]:
    settings = AggregatorSettings.from_env()
    names = {topic.suffix: "t." + topic.suffix for topic in ALL_TOPICS}
    intake = Intake({INPUT}, max_batch=1000, flush_interval_s=0.0, capacity=1000)
    publisher = Publisher(log)
    loop = FoldLoop(Bridge(log), settings, names, {INPUT}, intake, StoredStates(Store()), publisher, publisher,
                    SimpleNamespace(), Deadlines(), LiveRollups(), broker=None)
    assert names[CALL_OUTCOMES.suffix] == INPUT
    return loop, intake, publisher


async def until(condition, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def test_the_next_batch_folds_while_the_changelog_waits_and_commits_follow_their_acks() -> None:
    log: list = []
    loop, intake, publisher = fold_loop(log)
    running = asyncio.ensure_future(loop.run())
    try:
        await intake.put([Fetched(TP(INPUT, 0), 1, [outcome(0), outcome(1)])], lambda: True)
        await until(lambda: ("changelog sent", 1) in log)
        # The first batch's changelog is not acknowledged yet: the second batch folds and publishes
        # its outputs, reading the state the first batch left.
        await intake.put([Fetched(TP(INPUT, 0), 1, [outcome(2)])], lambda: True)
        await until(lambda: ("state published", 3) in log)
        assert log == [("state published", 2), ("changelog sent", 1), ("state published", 3)]

        publisher.changelog_acks.put_nowait("ack")
        await until(lambda: ("commit", 2) in log)
        publisher.changelog_acks.put_nowait("ack")
        await until(lambda: ("commit", 3) in log)
        assert log == [("state published", 2), ("changelog sent", 1), ("state published", 3),
                       ("changelog acked", 1), ("commit", 2),
                       ("changelog sent", 1), ("changelog acked", 1), ("commit", 3)]
        assert loop.states.load("svc-a").successful == 3
    finally:
        running.cancel()


async def test_a_refused_changelog_stops_the_loop_without_a_further_batch_and_commits_nothing() -> None:
    log: list = []
    loop, intake, publisher = fold_loop(log)
    running = asyncio.ensure_future(loop.run())
    await intake.put([Fetched(TP(INPUT, 0), 1, [outcome(0)])], lambda: True)
    await until(lambda: ("changelog sent", 1) in log)
    publisher.changelog_acks.put_nowait(RuntimeError("broker refused the batch"))
    with pytest.raises(RuntimeError, match="broker refused"):
        await asyncio.wait_for(running, 5)
    assert not [entry for entry in log if entry[0] == "commit"]


async def test_a_revocation_waits_for_the_changelog_and_the_commit() -> None:
    log: list = []
    loop, intake, publisher = fold_loop(log)
    running = asyncio.ensure_future(loop.run())
    try:
        await intake.put([Fetched(TP(INPUT, 0), 1, [outcome(0)])], lambda: True)
        await until(lambda: ("changelog sent", 1) in log)
        finishing = asyncio.ensure_future(loop.finish_folding())
        await asyncio.sleep(0.05)
        assert not finishing.done()
        publisher.changelog_acks.put_nowait("ack")
        await asyncio.wait_for(finishing, 5)
        assert log[-1] == ("commit", 1)
    finally:
        running.cancel()
