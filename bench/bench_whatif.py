"""What-if re-fold rate against the aggregator's own fold, measured in the same run.

Starts its own Kafka, PostgreSQL and Redis (tests.harness) and fills one partition of
`call-outcomes` with FUSEBOX_BENCH_WHATIF_EVENTS outcomes (default 1,000,000) of one service,
interleaved with a quarter as many of other services that share its partition (which the reader
must skip), plus the service's config update and its CommandResult. Then:
  1. the aggregator's fold: `process` (decode, admission, grouping, fold_batch with rollups, as a
     worker runs it) over the same records, in polls of 5,000, in memory: no Kafka in the way;
  2. the what-if's own work over the same records in memory: skip other keys, admit, fold twice
     (actual and a stricter candidate);
  3. `fusebox whatif`'s path end to end (`run_whatif`): the same, reading the service's partitions
     from Kafka.
Reports events/s re-folded (the service's events over the what-if's wall time) and the ratio.
"""
from __future__ import annotations

import asyncio
import gc
import os
import random
import time
import uuid

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from fusebox.aggregator.processor import InputChunk, admit, process
from fusebox.core.topics import BREAKER_COMMANDS, CALL_OUTCOMES, COMMAND_RESULTS
from fusebox.kafka_admin import ensure_topics
from fusebox.core.whatif import WhatIf
from fusebox.whatif_log import partition_of, run_whatif
from tests.harness import start_stack

EVENTS = int(os.environ.get("FUSEBOX_BENCH_WHATIF_EVENTS", "1000000"))
SERVICE = "bench-whatif-target"
POLL = 5_000
T0 = int(time.time() * 1000) - 7 * 24 * 3600 * 1000  # a week ago: the log spans the range asked for
CONFIG = {"failureThreshold": 5, "resetTimeoutMs": 30_000, "minHealthyPeriodMs": 60_000}
CONFIG_EVENT = ("breaker-commands:0", 0, {"commandId": "bench-config", "service": SERVICE, "type": "config.update",
                                          "issuedAt": T0 - 1, "issuedBy": "bench", "payload": CONFIG})


def neighbours() -> list[str]:
    wanted = partition_of(SERVICE, CALL_OUTCOMES.partitions)
    names = (f"bench-whatif-other-{i}" for i in range(10_000))
    return [name for name in names if partition_of(name, CALL_OUTCOMES.partitions) == wanted][:20]


def outcomes(rng: random.Random) -> list[tuple[bytes, bytes]]:
    """(key, value) in log order: the service at 100 events/s of event time, with incidents."""
    others = neighbours()
    records = []
    step_ms = 10
    incident = False
    for i in range(EVENTS):
        if i % 20_000 == 0:
            incident = i // 20_000 % 5 == 2  # every 1,000 s of event time, 200 s of a failing dependency
        failing = rng.random() < (0.6 if incident else 0.01)
        kind = ("timeout" if rng.random() < 0.2 else "failure") if failing else "success"
        records.append((SERVICE.encode(), orjson.dumps({
            "service": SERVICE, "outcome": kind, "latencyMs": round(rng.lognormvariate(3, 0.6), 2),
            "ts": T0 + i * step_ms, "eventId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "instance": f"pod-{rng.randrange(8)}", "error": None if kind == "success" else "ConnectionResetError"})))
        if i % 4 == 0:
            other = others[rng.randrange(len(others))]
            records.append((other.encode(), orjson.dumps({
                "service": other, "outcome": "success", "latencyMs": 5.0, "ts": T0 + i * step_ms,
                "eventId": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "instance": "pod-0", "error": None})))
    return records


async def fill(bootstrap: str, prefix: str) -> int:
    rng = random.Random(11)
    records = outcomes(rng)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, max_batch_size=1024 * 1024,
                                compression_type="lz4")
    await producer.start()
    try:
        command_id = str(uuid.uuid4())
        command = {"commandId": command_id, "service": SERVICE, "type": "config.update", "issuedAt": T0 - 1,
                   "issuedBy": "bench", "payload": CONFIG}
        await producer.send_and_wait(BREAKER_COMMANDS.name(prefix), key=SERVICE.encode(), value=orjson.dumps(command))
        result = {"commandId": command_id, "service": SERVICE, "type": "config.update", "ok": True,
                  "appliedAt": "1970-01-01T00:00:00.000Z", "result": {"config": CONFIG}, "appliedAfter": {}}
        await producer.send_and_wait(COMMAND_RESULTS.name(prefix), key=SERVICE.encode(), value=orjson.dumps(result))
        topic = CALL_OUTCOMES.name(prefix)
        futures = []
        for key, value in records:
            futures.append(await producer.send(topic, key=key, value=value))
            if len(futures) >= 50_000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(records)


async def partition_records(bootstrap: str, prefix: str) -> list:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    try:
        tp = TopicPartition(CALL_OUTCOMES.name(prefix), partition_of(SERVICE, CALL_OUTCOMES.partitions))
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        records = []
        while not records or records[-1].offset < end - 1:
            batch = await consumer.getmany(tp, timeout_ms=1000, max_records=20_000)
            records.extend(batch.get(tp, []))
        return records
    finally:
        await consumer.stop()


def aggregator_fold_s(records: list, partition: int) -> float:
    """The worker's step over the records, poll by poll (decode, admission, grouping, fold)."""
    states: dict = {}
    gc.collect()
    started = time.perf_counter()
    for start in range(0, len(records), POLL):
        result = process([InputChunk("call-outcomes", partition, records[start:start + POLL])], states.get)
        for change in result.changes:
            states[change.service] = change.state
    return time.perf_counter() - started


def refold_in_memory_s(records: list, partition: int, now_ms: int) -> tuple[float, int]:
    """The what-if's own work over records already fetched: skip other keys, admit, fold twice."""
    key = SERVICE.encode()
    source = f"call-outcomes:{partition}"
    gc.collect()
    started = time.perf_counter()
    refold = WhatIf(SERVICE, T0, now_ms, {"failureThreshold": 3})
    refold.feed([CONFIG_EVENT])
    for start in range(0, len(records), 20_000):
        refold.feed([(source, r.offset, admit(CALL_OUTCOMES.suffix, r, 300_000))
                     for r in records[start:start + 20_000] if r.key == key])
    answer = refold.answer()
    return time.perf_counter() - started, answer["eventsFolded"]


def run() -> None:
    stack = start_stack()
    try:
        prefix = f"bench{uuid.uuid4().hex[:8]}."
        asyncio.run(ensure_topics(stack.kafka_bootstrap, prefix))
        started = time.perf_counter()
        total = asyncio.run(fill(stack.kafka_bootstrap, prefix))
        print(f"{total:,} records in the service's partition ({EVENTS:,} of {SERVICE}), "
              f"produced in {time.perf_counter() - started:.1f}s", flush=True)

        records = asyncio.run(partition_records(stack.kafka_bootstrap, prefix))
        partition = records[0].partition
        fold_s = min(aggregator_fold_s(records, partition) for _ in range(2))
        fold_rate = len(records) / fold_s
        print(f"aggregator fold (process, rollups on)   {fold_rate:>12,.0f} events/s", flush=True)
        now_ms = int(time.time() * 1000)
        timings = [refold_in_memory_s(records, partition, now_ms) for _ in range(2)]
        memory_s, memory_folded = min(timings)
        memory_rate = memory_folded / memory_s
        print(f"what-if re-fold, records in memory (skip, admit, 2 folds) {memory_rate:>12,.0f} events/s; "
              f"ratio {memory_rate / fold_rate:.2f}", flush=True)
        del records

        best = float("inf")
        answer = None
        for _ in range(2):
            gc.collect()
            started = time.perf_counter()
            answer = asyncio.run(run_whatif(stack.kafka_bootstrap, prefix, SERVICE, T0, now_ms,
                                            {"failureThreshold": 3}, max_clock_skew_ms=300_000, time_limit_s=600))
            best = min(best, time.perf_counter() - started)
        rate = answer["eventsFolded"] / best
        print(f"what-if re-fold (Kafka read, skip, admit, 2 folds) {rate:>12,.0f} events/s "
              f"({answer['eventsFolded']:,} events in {best:.1f}s; "
              f"incidents actual {answer['actual']['incidents']}, candidate {answer['candidate']['incidents']})")
        print(f"ratio to the aggregator's fold, end to end {rate / fold_rate:>10.2f}  (aim >= 0.80)", flush=True)
    finally:
        stack.close()
