"""Aggregator throughput against a raw aiokafka consumer, produce-to-state latency, worker peak memory.

Starts its own Kafka, PostgreSQL and Redis (tests.harness), pre-fills `call-outcomes` with
FUSEBOX_BENCH_EVENTS outcomes (default 1,000,000) over 1,000 services, then in the same run:
  1. raw baseline: one aiokafka consumer, getmany + orjson.loads, no processing;
  2. one `fusebox aggregator` worker folding the same topic (events/s from its group's committed
     offsets, which it commits after every folded batch), with metric rollups on and off;
  3. produce-to-ServiceState latency at a steady FUSEBOX_BENCH_RATE events/s (default 5,000), with the
     rate the generator reached beside it (the figure holds only if that rate is the one asked for);
  4. cost as the fleet grows: for each size in FUSEBOX_BENCH_FLEETS (default 10,000 and 100,000
     services), FUSEBOX_BENCH_FLEET_EVENTS outcomes (default 500,000) on topics of their own, the raw
     consumer and one worker on the same topic: events/s, the ratio and peak RSS. With
     FUSEBOX_BENCH_PROFILE=1, a further worker folds the topic under py-spy (not the measured one) and
     the frames with the most samples are printed.
"""
from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from fusebox.core.topics import ALL_TOPICS
from fusebox.kafka_admin import ensure_topics
from fusebox.storage.migrations import apply_migrations
from fusebox.storage.schema import schema_for_prefix
from tests.harness import free_port, start_stack

EVENTS = int(os.environ.get("FUSEBOX_BENCH_EVENTS", "1000000"))
SERVICES = [f"bench-svc-{i:04d}" for i in range(1000)]
RATE = int(os.environ.get("FUSEBOX_BENCH_RATE", "5000"))
LATENCY_SECONDS = int(os.environ.get("FUSEBOX_BENCH_LATENCY_SECONDS", "20"))
FLEETS = [int(n) for n in os.environ.get("FUSEBOX_BENCH_FLEETS", "10000,100000").split(",") if n]
FLEET_EVENTS = int(os.environ.get("FUSEBOX_BENCH_FLEET_EVENTS", "500000"))


def outcome(rng: random.Random, service: str, ts: int) -> bytes:
    kind = "success" if rng.random() < 0.97 else "failure"
    return orjson.dumps({"service": service, "outcome": kind, "latencyMs": round(rng.lognormvariate(3, 0.6), 2),
                         "ts": ts, "eventId": str(uuid.uuid4()), "instance": "bench-1",
                         "error": None if kind == "success" else "upstream 503"})


async def prefill(bootstrap: str, topic: str, events: int = EVENTS, services: list[str] = SERVICES) -> float:
    rng = random.Random(1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=20,
                                max_batch_size=1024 * 1024, compression_type="lz4")
    await producer.start()
    started = time.perf_counter()
    base = int(time.time() * 1000) + 3_600_000  # ahead of the wall clock: no ticks during the run
    try:
        futures = []
        for i in range(events):
            service = services[i % len(services)]
            futures.append(await producer.send(topic, key=service.encode(), value=outcome(rng, service, base + i // 100)))
            if len(futures) >= 50_000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def raw_consume(bootstrap: str, topic: str, events: int = EVENTS) -> float:
    """Events/s of a bare consumer, timed like the worker: from its first batch (after the group
    join) to the last event."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"raw-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    count = first = 0
    started = 0.0
    try:
        while count < events:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10000)
            for records in batches.values():
                for record in records:
                    orjson.loads(record.value)
                count += len(records)
            if not first and count:
                first, started = count, time.perf_counter()
    finally:
        await consumer.stop()
    return (events - first) / (time.perf_counter() - started)


def folded(port: int) -> float:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return 0.0
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("fusebox_aggregator_events_folded_total{"))


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory of `fusebox aggregator`: its supervising process plus the worker."""
    total = 0.0
    for member in [pid, *descendants(pid)]:
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
    return total


def descendants(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return [grandchild for child in children for grandchild in (child, *descendants(child))]


def start_worker(env: dict, workdir: str, port: int, extra: dict | None = None) -> subprocess.Popen:
    env = {**env, "FUSEBOX_AGGREGATOR_PORT": str(port),
           "FUSEBOX_AGGREGATOR_DATA_DIR": os.path.join(workdir, f"data-{port}"),
           "FUSEBOX_AGGREGATOR_APP_ID": f"bench-agg-{uuid.uuid4().hex[:6]}",
           "FUSEBOX_MAX_CLOCK_SKEW_MS": str(2 * 3_600_000),  # the prefill is stamped an hour ahead
           **(extra or {})}
    return subprocess.Popen([sys.executable, "-m", "fusebox.cli", "aggregator", "--loglevel", "error"],
                            env=env, stdout=open(os.path.join(workdir, f"worker-{port}.log"), "wb"),
                            stderr=subprocess.STDOUT)


async def committed(admin: AIOKafkaAdminClient, group: str) -> int:
    """Input records the worker has folded and committed: the sum of its group's committed offsets."""
    offsets = await admin.list_consumer_group_offsets(group)
    return sum(meta.offset for meta in offsets.values() if meta.offset > 0)


async def measure_worker(bootstrap: str, env: dict, workdir: str, extra: dict | None = None,
                         events: int = EVENTS, profile_to: str | None = None) -> tuple[float, float]:
    """Events/s from the first committed batch to the last event, and the worker's peak RSS (MiB).

    Progress is read from the group's committed offsets (the worker commits after every folded
    batch), so measuring costs the worker nothing.
    """
    group = f"bench-agg-{uuid.uuid4().hex[:6]}"
    worker = start_worker(env, workdir, free_port(), {"FUSEBOX_AGGREGATOR_APP_ID": group, **(extra or {})})
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + 1800
        while (first := await committed(admin, group)) == 0:
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("worker did not start folding")
            await asyncio.sleep(0.02)
        if first >= events:
            raise RuntimeError(f"the first committed batch held all {events:,} events: nothing is left to time "
                               "(use more events than FUSEBOX_AGGREGATOR_MAX_BATCH)")
        started = time.perf_counter()
        spy = None
        if profile_to:
            spy = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "py-spy"), "record",
                                    "--subprocesses", "--nonblocking", "--format", "raw", "--duration", "10",
                                    "--rate", "200", "--pid", str(worker.pid), "--output", profile_to],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while (done := await committed(admin, group)) < events:
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker stopped at {done} events")
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        if spy:
            spy.wait(timeout=60)
        return (events - first) / elapsed, peak_rss_mib(worker.pid)
    finally:
        await admin.close()
        worker.terminate()
        worker.wait(timeout=60)


async def steady_latency(bootstrap: str, prefix: str, env: dict, workdir: str) -> tuple[float, float, int, float]:
    """p50/p99 ms from producing an event to the first ServiceState that counts it, and the rate the
    generator reached (events/s)."""
    port = free_port()
    worker = start_worker(env, workdir, port)
    topic_in, topic_states = prefix + "call-outcomes", prefix + "breaker-states"
    services = SERVICES[:200]
    consumer = AIOKafkaConsumer(topic_states, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="latest")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=1)
    await consumer.start()
    await producer.start()
    produced: dict[str, list[tuple[int, float]]] = {s: [] for s in services}
    totals: dict[str, int] = {}
    latencies: list[float] = []
    try:
        warmed: set[str] = set()

        async def receive() -> None:
            async for record in consumer:
                state = orjson.loads(record.value)
                service, total = state["service"], state["operations"]["total"]
                now = time.perf_counter()
                pending = produced.get(service)
                if pending is None:
                    warmed.add(service)
                while pending and pending[0][0] <= total:
                    latencies.append((now - pending.pop(0)[1]) * 1000)

        receiver = asyncio.create_task(receive())
        # Warm up on names of their own spread over every partition, until the states of all of them
        # came back: no partition's first record (leader lookups and retried produces on a new
        # topic, the reader's first fetch positions) falls in the measured seconds.
        warmup = [f"bench-warmup-{i}" for i in range(64)]
        deadline = time.monotonic() + 120
        while len(warmed) < len(warmup):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"warm-up: states of {len(warmed)} of {len(warmup)} services came back")
            await asyncio.gather(*[producer.send_and_wait(topic_in, key=name.encode(), value=outcome(
                random.Random(), name, int(time.time() * 1000))) for name in warmup])
            await asyncio.sleep(0.5)
        await asyncio.sleep(1)
        rng = random.Random(5)
        interval = 1 / RATE
        started = time.perf_counter()
        sent = 0
        while time.perf_counter() - started < LATENCY_SECONDS:
            due = int((time.perf_counter() - started) / interval)
            while sent < due:
                service = services[sent % len(services)]
                totals[service] = totals.get(service, 0) + 1
                await producer.send(topic_in, key=service.encode(),
                                    value=outcome(rng, service, int(time.time() * 1000)))
                produced[service].append((totals[service], time.perf_counter()))
                sent += 1
            await asyncio.sleep(0.002)
        reached = sent / (time.perf_counter() - started)
        await asyncio.sleep(3)
        receiver.cancel()
    finally:
        await producer.stop()
        await consumer.stop()
        worker.terminate()
        worker.wait(timeout=60)
    latencies.sort()
    return latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)], len(latencies), reached


def top_frames(raw_profile: str, count: int = 12) -> list[str]:
    """The functions of a py-spy raw (collapsed) profile with the most samples: as the leaf (own time),
    and inclusive for the project's own functions below the worker's entry points."""
    inclusive: dict[str, int] = {}
    leaf: dict[str, int] = {}
    total = 0
    for line in Path(raw_profile).read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        frames, n = [frame.rsplit(":", 1)[0] + ")" for frame in stack.split(";")], int(samples)
        total += n
        leaf[frames[-1]] = leaf.get(frames[-1], 0) + n
        for frame in set(frames):
            if ("fusebox/" in frame or "aggregator/" in frame) and "cli.py" not in frame and "__main__" not in frame:
                inclusive[frame] = inclusive.get(frame, 0) + n

    def share(table: dict[str, int]) -> list[str]:
        return [f"{n / total:6.1%}  {frame}" for frame, n in sorted(table.items(), key=lambda kv: -kv[1])[:count]]
    return ["leaf (own time):", *share(leaf), "inclusive:", *share(inclusive)] if total else ["no samples"]


def fleet_cost(stack, workdir: str, size: int) -> None:
    """Raw consumer and one worker on a topic of FLEET_EVENTS outcomes over `size` services."""
    prefix = f"fleet{size}{uuid.uuid4().hex[:4]}."
    asyncio.run(ensure_topics(stack.kafka_bootstrap, prefix, ALL_TOPICS))
    apply_migrations(stack.database_url, schema_for_prefix(prefix))
    services = [f"bench-fleet-{i:06d}" for i in range(size)]
    asyncio.run(prefill(stack.kafka_bootstrap, prefix + "call-outcomes", FLEET_EVENTS, services))
    raw_rate = max(asyncio.run(raw_consume(stack.kafka_bootstrap, prefix + "call-outcomes", FLEET_EVENTS))
                   for _ in range(2))
    rate, peak = asyncio.run(measure_worker(stack.kafka_bootstrap, stack.env(FUSEBOX_TOPIC_PREFIX=prefix), workdir,
                                            events=FLEET_EVENTS))
    print(f"fleet of {size:,} services, {FLEET_EVENTS:,} outcomes: raw {raw_rate:,.0f} events/s, "
          f"aggregator (rollups on) {rate:,.0f} events/s; ratio to raw {rate / raw_rate:.2f}; "
          f"peak RSS {peak:.0f} MiB", flush=True)
    if os.environ.get("FUSEBOX_BENCH_PROFILE") == "1":
        raw_profile = os.path.join(workdir, f"fleet-{size}.pyspy.txt")
        asyncio.run(measure_worker(stack.kafka_bootstrap, stack.env(FUSEBOX_TOPIC_PREFIX=prefix), workdir,
                                   events=FLEET_EVENTS, profile_to=raw_profile))
        print(f"  py-spy of a worker folding the same topic ({raw_profile}):", flush=True)
        for line in top_frames(raw_profile):
            print("    " + line, flush=True)


def run() -> None:
    stack = start_stack()
    workdir = tempfile.mkdtemp(prefix="fusebox-bench-")
    try:
        prefix = f"bench{uuid.uuid4().hex[:6]}."
        asyncio.run(ensure_topics(stack.kafka_bootstrap, prefix, ALL_TOPICS))
        apply_migrations(stack.database_url, schema_for_prefix(prefix))
        env = stack.env(FUSEBOX_TOPIC_PREFIX=prefix)
        seconds = asyncio.run(prefill(stack.kafka_bootstrap, prefix + "call-outcomes"))
        print(f"prefilled {EVENTS:,} outcomes over {len(SERVICES):,} services in {seconds:.1f}s", flush=True)

        # The faster of two runs: the ratio below is then the conservative one.
        raw_runs = [asyncio.run(raw_consume(stack.kafka_bootstrap, prefix + "call-outcomes")) for _ in range(2)]
        raw_rate = max(raw_runs)
        print(f"raw aiokafka getmany + orjson.loads: {raw_rate:,.0f} events/s "
              f"(best of {', '.join(f'{r:,.0f}' for r in raw_runs)})", flush=True)

        agg_rate, peak = asyncio.run(measure_worker(stack.kafka_bootstrap, env, workdir))
        print(f"aggregator (one worker, rollups on): {agg_rate:,.0f} events/s; "
              f"ratio to raw {agg_rate / raw_rate:.2f}; peak RSS {peak:.0f} MiB", flush=True)

        off_rate, off_peak = asyncio.run(measure_worker(stack.kafka_bootstrap, env, workdir, {"FUSEBOX_ROLLUPS": "off"}))
        print(f"aggregator (one worker, rollups off): {off_rate:,.0f} events/s; ratio to raw "
              f"{off_rate / raw_rate:.2f}; rollups on/off {agg_rate / off_rate:.2f}; peak RSS {off_peak:.0f} MiB",
              flush=True)

        # The latency run has topics of its own, empty at the start.
        latency_prefix = f"lat{uuid.uuid4().hex[:6]}."
        asyncio.run(ensure_topics(stack.kafka_bootstrap, latency_prefix, ALL_TOPICS))
        apply_migrations(stack.database_url, schema_for_prefix(latency_prefix))
        p50, p99, n, reached = asyncio.run(steady_latency(stack.kafka_bootstrap, latency_prefix,
                                                 stack.env(FUSEBOX_TOPIC_PREFIX=latency_prefix), workdir))
        print(f"produce -> ServiceState at {RATE:,} events/s for {LATENCY_SECONDS}s (generator reached "
              f"{reached:,.0f} events/s): p50 {p50:.0f} ms, p99 {p99:.0f} ms ({n:,} events matched)", flush=True)

        for size in FLEETS:
            fleet_cost(stack, workdir, size)
    finally:
        stack.close()
