"""A network partition between the aggregator and the broker, then healed: the counts come out exact.

The aggregator runs in a network namespace of this test, linked to the host by two veth pairs: one
to a broker of this test, one to a PostgreSQL of this test. Cutting the broker's link partitions
the aggregator from Kafka while PostgreSQL stays reachable. Where the machine refuses network
namespaces (or with FUSEBOX_CHAOS_PARTITION=sigstop), the partition is simulated by pausing the
broker (SIGSTOP, then SIGCONT), and the figures say so.
"""
from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from pathlib import Path

from fusebox.kafka_admin import ensure_topics
from fusebox.storage.migrations import apply_migrations
from fusebox.storage.schema import schema_for_prefix
from tests.chaos.support import Figures, Namespace, OwnStack, Profile, Stopwatch, Tally
from tests.harness import Stack
from tests.integration.aggregator.support import Producer, Worker, latest_states, wait_for


def outcomes(count: int, services: list[str], tally: Tally, seed: int):
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    for i in range(count):
        service, kind = rng.choice(services), ("success" if rng.random() < 0.9 else "failure")
        tally.add(service, kind)
        yield {"service": service, "outcome": kind, "latencyMs": 4.0, "ts": now + i // 100,
               "eventId": str(uuid.uuid4()), "instance": "chaos-partition", "error": None}


async def test_a_partition_between_the_aggregator_and_the_broker_heals_with_exact_counts(
        stack: Stack, topic_prefix: str, tmp_path: Path, profile: Profile, figures: Figures) -> None:
    usable, refusal = Namespace.usable()
    if os.environ.get("FUSEBOX_CHAOS_PARTITION") == "sigstop":  # to exercise the fallback where namespaces work
        usable, refusal = False, "FUSEBOX_CHAOS_PARTITION=sigstop"
    namespace = Namespace() if usable else None
    own: OwnStack | None = None
    worker: Worker | None = None
    try:
        if namespace is not None:
            namespace.create()
            kafka_host, _ = namespace.link()
            pg_host, _ = namespace.link()
            own = OwnStack(kafka_host=kafka_host, pg_host=pg_host).up()
            mode, command_prefix = "netns+veth", namespace.exec_prefix
        else:
            own = OwnStack(pg_host="127.0.0.1").up()
            mode, command_prefix = f"SIGSTOP/SIGCONT of the broker ({refusal})", ()
        local = own.stack(stack)
        await ensure_topics(own.kafka_bootstrap, topic_prefix)
        apply_migrations(own.database_url, schema_for_prefix(topic_prefix))
        worker = Worker(local, topic_prefix, own.database_url, tmp_path, command_prefix=command_prefix).start()

        def cut() -> None:
            namespace.cut(0) if namespace is not None else own.pause_kafka()

        def heal() -> None:
            namespace.heal(0) if namespace is not None else own.resume_kafka()

        services = [f"part-{i:02d}" for i in range(40)]
        tally = Tally()
        total = profile.partition_outcomes
        stream = outcomes(total, services, tally, seed=3)
        first = total // 3
        async with Producer(local, topic_prefix) as producer:
            # Given outcomes folded by an aggregator that reaches the broker over its link
            await producer.outcomes(next(stream) for _ in range(first))

            async def folded() -> int:
                return tally.folded(await latest_states(local, topic_prefix))

            await wait_for(lambda: _equals(folded, first), 240, "the first outcomes folded", worker=worker)

            # When the link is cut and the rest of the outcomes arrive at the broker meanwhile
            cut()
            partition = Stopwatch()
            try:
                rest = asyncio.create_task(producer.outcomes(list(stream)))
                if namespace is not None:
                    await asyncio.wait_for(rest, 120)
                await asyncio.sleep(max(0.0, profile.partition_s - partition()))
                during = await folded() if namespace is not None else None
            finally:
                heal()
            healed = Stopwatch()
            partitioned_s = partition()
            await asyncio.wait_for(rest, 120)

            # Then the aggregator had folded nothing of them across the cut ...
            if during is not None:
                assert during == first, f"{during - first} outcomes folded across the partition"

            # ... and once healed it folds every one of them exactly once, by itself
            async def exact() -> bool:
                return not tally.differences(await latest_states(local, topic_prefix))

            await wait_for(exact, 300, "exact counts after the partition healed", every=0.5, worker=worker)
            recovered_s = healed()
        states = await latest_states(local, topic_prefix)
        assert tally.folded(states) == total and tally.differences(states) == []
        assert worker.process.poll() is None, worker.log()
        figures.record("partition aggregator | broker", mode=mode, outcomes=total, partition_s=partitioned_s,
                       exact_after_heal_s=recovered_s,
                       session_timeout_s=10, outlived_session_timeout=partitioned_s > 10)
    finally:
        if worker is not None:
            worker.stop()
        if own is not None:
            await asyncio.to_thread(own.close)
        if namespace is not None:
            namespace.close()


async def _equals(count, expected: int) -> bool:
    return await count() == expected
