"""Counts stay exact when workers are killed mid-stream or share the partitions."""
from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

from tests.harness import Stack

from .support import Producer, Worker, latest_states, outcome, wait_for

SERVICES = [f"crash-{i:03d}" for i in range(120)]


def make_outcomes(count: int, seed: int) -> tuple[list[dict], dict[str, Counter]]:
    rng = random.Random(seed)
    expected: dict[str, Counter] = {s: Counter() for s in SERVICES}
    events = []
    for _ in range(count):
        service = rng.choice(SERVICES)
        kind = "success" if rng.random() < 0.9 else "failure"
        events.append(outcome(service, kind, latency=rng.uniform(1, 50)))
        expected[service][kind] += 1
    return events, expected


async def total_folded(stack: Stack, prefix: str) -> int:
    states = await latest_states(stack, prefix)
    return sum(s["operations"]["total"] for s in states.values())


async def counts_exact(stack: Stack, prefix: str, expected: dict[str, Counter]) -> bool:
    states = await latest_states(stack, prefix)
    return all(
        service in states
        and states[service]["operations"]["successful"] == counts["success"]
        and states[service]["operations"]["failed"] == counts["failure"]
        for service, counts in expected.items() if counts)


async def test_kill_9_mid_stream_twice_loses_and_duplicates_nothing(stack: Stack, topics: str, database_url: str,
                                                                    tmp_path: Path) -> None:
    # Given 200,000 outcomes being produced while a worker folds them
    events, expected = make_outcomes(200_000, seed=7)
    worker = Worker(stack, topics, database_url, tmp_path).start()
    async with Producer(stack, topics) as producer:
        producing = asyncio.create_task(producer.outcomes(events))
        try:
            # When the worker is killed with SIGKILL mid-stream, twice, and restarted each time
            for threshold in (20_000, 80_000):
                await wait_for(lambda: above(stack, topics, threshold), 180, f"{threshold} folded", every=0.5,
                               worker=worker)
                worker.kill()
                worker = Worker(stack, topics, database_url, tmp_path).start()
            await producing
            # Then every service's counters equal exactly what was produced
            await wait_for(lambda: counts_exact(stack, topics, expected), 240, "exact counts after crashes",
                           every=1.0, worker=worker)
            assert await total_folded(stack, topics) == 200_000
        finally:
            producing.cancel()
            worker.stop()


async def test_two_workers_share_partitions_and_one_takes_over_when_the_other_stops(
        stack: Stack, topics: str, database_url: str, tmp_path: Path) -> None:
    # Given two workers of one app sharing the partitions
    first_batch, expected = make_outcomes(20_000, seed=11)
    second_batch, expected_more = make_outcomes(20_000, seed=12)
    for service, counts in expected_more.items():
        expected[service].update(counts)
    a = Worker(stack, topics, database_url, tmp_path).start()
    b = Worker(stack, topics, database_url, tmp_path).start()
    try:
        async with Producer(stack, topics) as producer:
            await producer.outcomes(first_batch)
            await wait_for(lambda: above(stack, topics, 20_000), 120, "first batch folded by two workers",
                           worker=a)
            # When one of them stops
            a.stop()
            await producer.outcomes(second_batch)
            # Then the other takes over its partitions and the counts stay exact
            await wait_for(lambda: counts_exact(stack, topics, expected), 180, "exact counts after takeover",
                           every=1.0, worker=b)
        assert await total_folded(stack, topics) == 40_000
    finally:
        a.stop()
        b.stop()


async def above(stack: Stack, prefix: str, threshold: int) -> bool:
    return await total_folded(stack, prefix) >= threshold
