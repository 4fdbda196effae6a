"""kill -9 the aggregator again and again while outcomes stream in: every counter stays exact."""
from __future__ import annotations

import asyncio
import random
import time
import uuid
from pathlib import Path

from tests.chaos.support import Figures, Profile, Stopwatch, Tally, paced
from tests.harness import Stack
from tests.integration.aggregator.support import Producer, Worker, latest_states, wait_for

KINDS = ("success",) * 85 + ("failure",) * 8 + ("timeout",) * 4 + ("rejected",) * 3


def outcomes(count: int, services: list[str], tally: Tally, seed: int):
    """`count` outcomes spread over `services`, counted into `tally` as they are generated."""
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    for i in range(count):
        service, kind = rng.choice(services), rng.choice(KINDS)
        tally.add(service, kind)
        yield {"service": service, "outcome": kind, "latencyMs": round(rng.uniform(1, 80), 3), "ts": now + i // 100,
               "eventId": str(uuid.uuid4()), "instance": "chaos-kill", "error": None if kind == "success" else "E"}


async def test_kill_9_the_aggregator_repeatedly_and_every_counter_stays_exact(
        stack: Stack, topics: str, database_url: str, tmp_path: Path, profile: Profile, figures: Figures) -> None:
    services = [f"kill-{i:03d}" for i in range(100)]
    tally = Tally()
    total, kills = profile.kill_outcomes, profile.kills
    # outcomes stream in at a steady rate; the worker is killed each time another share has been folded
    thresholds = [total * (k + 1) // (kills + 2) for k in range(kills)]
    worker = Worker(stack, topics, database_url, tmp_path).start()
    clock = Stopwatch()
    resumed_after: list[float] = []
    async with Producer(stack, topics) as producer:
        producing = asyncio.create_task(paced(producer, outcomes(total, services, tally, seed=5),
                                                profile.kill_rate_per_s))
        try:
            async def folded() -> int:
                return tally.folded(await latest_states(stack, topics))

            for threshold in thresholds:
                await wait_for(lambda: _at_least(folded, threshold), 600, f"{threshold:,} folded", every=0.5,
                               worker=worker)
                before = await folded()
                worker.kill()
                killed_at = time.monotonic()
                worker = Worker(stack, topics, database_url, tmp_path).start()
                await wait_for(lambda: _at_least(folded, before + 1), 300, "the restarted worker folding",
                               every=0.3, worker=worker)
                resumed_after.append(time.monotonic() - killed_at)
            await asyncio.wait_for(producing, 900)
            produced_in = clock()

            async def exact() -> bool:
                return not tally.differences(await latest_states(stack, topics))

            await wait_for(exact, 600, "exact counters after the kills", every=1.0, worker=worker)
            states = await latest_states(stack, topics)
        finally:
            producing.cancel()
            worker.stop()

    assert tally.total == total
    assert tally.differences(states) == []
    assert tally.folded(states) == total
    figures.record("aggregator kill -9", outcomes=total, kills=kills, services=len(services),
                   produced_s=produced_in, exact_after_s=clock(),
                   resume_s_max=max(resumed_after), resume_s_mean=sum(resumed_after) / len(resumed_after),
                   events_per_s=total / clock())


async def _at_least(count, threshold: int) -> bool:
    return await count() >= threshold
