"""End to end: SDK publish → `service:update` received by every one of FUSEBOX_BENCH_E2E_CLIENTS WebSocket clients
(default 100), at a steady FUSEBOX_BENCH_E2E_RATE outcomes/s (default 5,000) for FUSEBOX_BENCH_E2E_SECONDS (default
20) after a 3 s warm-up, three runs (FUSEBOX_BENCH_E2E_RUNS) on one stack; the gateway's batch window is
FUSEBOX_BENCH_E2E_BATCH_MS (default 150, as FUSEBOX_API_WS_BATCH_MS).

The real path: the harness's Kafka, PostgreSQL and Redis (tests.harness.start_stack), one `fusebox aggregator`
worker, one `fusebox api`, the SDK (`FuseboxClient.record`) in a process of its own (bench/sdk_publisher.py) and
the Node.js clients (bench/ws_clients.mjs, e2e mode). Nothing of the bench travels in the messages: an update is
known by its service, circuit state and `operations.total`. The publisher keeps the wall-clock time of every call
per service, so an update of total T, after one of total P, is the first to show calls P+1..T. Its latency is from
the oldest of them (the call that waited longest) to the update's receipt by the last of the clients. Circuit-state
changes are forced: FUSEBOX_BENCH_E2E_FLAPPING services (default 20 of FUSEBOX_BENCH_E2E_SERVICES, 100) get 5
failures in a row every 3 s (failureThreshold 5, resetTimeoutMs 1000, so the first success a second later closes
them). An opening is timed from the very call that tripped it (the 5th failure); a closing from the first call at
or after openedAt + resetTimeoutMs (the one that closed it). Each run has a second phase with no flapping service:
a circuit change flushes the gateway's pending updates at once, so with them the other updates seldom wait out
the batch window. A bare consumer of `breaker-states` in the bench process splits each latency into SDK call →
`breaker-states` and `breaker-states` → the last client. With FUSEBOX_BENCH_PROFILE=1, py-spy records the gateway
and the aggregator for 10 s of each phase, idle samples included, and the frames with the most samples are printed.
"""
from __future__ import annotations

import asyncio
import bisect
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
from aiokafka import AIOKafkaConsumer

from bench.bench_aggregator import descendants, start_worker, top_frames
from bench.bench_api import SECRET, cpu_seconds, percentile, stop_processes, wait_http
from bench.sdk_publisher import RUN, service_names
from fusebox.auth import mint_token
from fusebox.core import codec
from fusebox.core.isotime import parse_iso_ms
from fusebox.core.topics import ALL_TOPICS
from fusebox.kafka_admin import ensure_topics
from fusebox.sdk.simulate import configure_via_kafka
from fusebox.storage.migrations import apply_migrations
from fusebox.storage.schema import schema_for_prefix
from fusebox.topic_reader import assigned_partitions
from tests.harness import ROOT, free_port, start_stack

CLIENTS = int(os.environ.get("FUSEBOX_BENCH_E2E_CLIENTS", "100"))
RATE = int(os.environ.get("FUSEBOX_BENCH_E2E_RATE", "5000"))
SECONDS = float(os.environ.get("FUSEBOX_BENCH_E2E_SECONDS", "20"))
SERVICES = int(os.environ.get("FUSEBOX_BENCH_E2E_SERVICES", "100"))
FLAPPING = int(os.environ.get("FUSEBOX_BENCH_E2E_FLAPPING", "20"))
RUNS = int(os.environ.get("FUSEBOX_BENCH_E2E_RUNS", "3"))
PROFILE = os.environ.get("FUSEBOX_BENCH_PROFILE") == "1"
WARMUP_S = 3.0
BATCH_MS = int(os.environ.get("FUSEBOX_BENCH_E2E_BATCH_MS", "150"))  # the gateway's FUSEBOX_API_WS_BATCH_MS
FLAP_CONFIG = {"failureThreshold": RUN, "resetTimeoutMs": 1000, "minHealthyPeriodMs": 0, "requestLimit": 1}


def profile(pid: int, raw_profile: str) -> tuple[subprocess.Popen, str]:
    """py-spy record of `pid` and its children for 10 s, idle samples included: waiting shows as waiting."""
    spy = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "py-spy"), "record", "--subprocesses",
                            "--idle", "--nonblocking", "--format", "raw", "--duration", str(int(min(SECONDS, 10))),
                            "--rate", "100", "--pid", str(pid), "--output", raw_profile],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return spy, raw_profile


def summary(values: list[float]) -> str:
    if not values:
        return "n=0"
    return (f"p50 {percentile(values, 50) * 1000:.0f} ms, p99 {percentile(values, 99) * 1000:.0f} ms, "
            f"max {max(values) * 1000:.0f} ms (n={len(values):,})")


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except OSError:
            pass
    return total


async def wait_configured(status_url: str, headers: dict, services: list[str], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession(headers=headers) as session:
        while time.monotonic() < deadline:
            async with session.get(status_url) as response:
                if response.status == 200:
                    configs = {s["service"]: s["config"] for s in codec.loads(await response.read())}
                    if all(configs.get(s, {}).get("resetTimeoutMs") == FLAP_CONFIG["resetTimeoutMs"]
                           for s in services):
                        return
            await asyncio.sleep(0.3)
    raise RuntimeError("the flapping services' config did not reach the gateway")


def analyse(published: dict, rows: list[list], clients: int, at_topic: dict[str, list[tuple[int, float]]],
            opened_at: dict[tuple, int]) -> dict:
    """Matches the clients' receipts with the SDK's calls (see the module's docstring). Per kind of update
    ("open": closed -> open, timed from the tripping call; "close": -> closed, timed from the first call at or after
    the open breaker's openedAt + resetTimeoutMs, the one whose arrival half-opened and closed it; "circuit": any
    other circuit-state change, from the oldest call it shows; "other"), the latencies to the last client and their
    split at `breaker-states`: when the first record there that counts the call the latency starts from reached the
    bench's bare consumer (the gateway may have coalesced that record with later ones)."""
    index = {name: i for i, name in enumerate(published["services"])}
    calls, trips, measured_from = published["calls"], published["trips"], published["measured_from"]
    previous: dict[str, tuple[int, str]] = {}
    deadlines: dict[str, int] = {}  # per service, when its open breaker's reset timeout ends (epoch ms)
    figures: dict = {kind: {"all": [], "to_topic": [], "from_topic": []}
                     for kind in ("open", "close", "circuit", "other")}
    figures.update(outcomes=[], incomplete=0, timer_driven=0, moves={})
    for service, state, total, at_ms, receipts in rows:
        i = index[service]
        prev_total, prev_state = previous.get(service, (0, "closed"))
        previous[service] = (max(prev_total, total), state)
        if state == "open" and (service, state, total) in opened_at:
            deadlines[service] = opened_at[(service, state, total)] + FLAP_CONFIG["resetTimeoutMs"]
        if total <= prev_total:
            figures["timer_driven"] += state != prev_state  # half-open by a tick: no call caused it
            continue
        oldest = calls[i][prev_total]
        if oldest < measured_from:
            continue
        if receipts < clients:
            figures["incomplete"] += 1
            continue
        received = at_ms / 1000
        start, kind = oldest, "other"
        if state != prev_state:
            move = f"{prev_state} -> {state}"
            figures["moves"][move] = figures["moves"].get(move, 0) + 1
            kind = "circuit"
            tripped = [t for t in trips[i] if prev_total < t <= total]
            if state == "open" and prev_state == "closed" and tripped:
                start, kind = calls[i][tripped[0] - 1], "open"
            elif state == "closed" and service in deadlines:
                # the SDK stamps `ts` in whole ms just after the time kept here: a call kept 1 ms early still counts
                closing = [k for k in range(prev_total, total) if calls[i][k] * 1000 >= deadlines[service] - 1]
                if closing:
                    start, kind = calls[i][closing[0]], "close"
        figures[kind]["all"].append(received - start)
        figures["outcomes"].extend(received - calls[i][k] for k in range(prev_total, total))
        # the first breaker-states record counting call number `first` (calls are kept in order, so is `start`)
        first = calls[i].index(start) + 1
        records = at_topic.get(service, [])
        at = bisect.bisect_left(records, (first, 0.0))
        topic_at = records[at][1] if at < len(records) else None
        if topic_at is not None:
            figures[kind]["to_topic"].append(topic_at - start)
            figures[kind]["from_topic"].append(received - topic_at)
    return figures


async def one_run(stack, workdir: str, run: int, flapping: int) -> None:
    prefix = f"e2e{uuid.uuid4().hex[:6]}."
    await ensure_topics(stack.kafka_bootstrap, prefix, ALL_TOPICS)
    apply_migrations(stack.database_url, schema_for_prefix(prefix))
    names = service_names(SERVICES)
    await configure_via_kafka(stack.kafka_bootstrap, prefix, names[:max(flapping, 1)], FLAP_CONFIG)
    env = stack.env(FUSEBOX_TOPIC_PREFIX=prefix)
    worker = start_worker(env, workdir, free_port())
    api_port = free_port()
    api = subprocess.Popen([sys.executable, "-m", "fusebox.cli", "api"], cwd=ROOT, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL,
                           env={**env, "FUSEBOX_JWT_SECRET": SECRET, "FUSEBOX_API_PORT": str(api_port),
                                "FUSEBOX_API_WS_MAX_CONNECTIONS_PER_ADMIN": str(CLIENTS),
                                "FUSEBOX_API_WS_BATCH_MS": str(BATCH_MS)})
    node = publisher = None
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, enable_auto_commit=False)
    reader = None
    try:
        await wait_http(f"http://127.0.0.1:{api_port}/readyz", 120)
        token = mint_token(SECRET, "bench")
        await wait_configured(f"http://127.0.0.1:{api_port}/api/admin/circuit-breaker/status",
                              {"Authorization": f"Bearer {token}"}, names[:max(flapping, 1)])
        node = await asyncio.create_subprocess_exec(
            "node", str(ROOT / "bench" / "ws_clients.mjs"), f"ws://127.0.0.1:{api_port}/api/admin/ws", token,
            str(CLIENTS), "e2e", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT,
            limit=256 * 1024 * 1024)
        ready = codec.loads(await asyncio.wait_for(node.stdout.readline(), 120))

        # the floor between the halves: each breaker-states record as a bare consumer here reads it
        await consumer.start()
        partitions = await assigned_partitions(consumer, prefix + "breaker-states")
        await consumer.seek_to_end(*partitions)
        at_topic: dict[str, list[tuple[int, float]]] = {}
        opened_at: dict[tuple, int] = {}

        async def read_back() -> None:
            async for record in consumer:
                if record.value:
                    state = codec.loads(record.value)
                    key = (state["service"], state["circuit"]["state"], state["operations"]["total"])
                    at_topic.setdefault(key[0], []).append((key[2], time.time()))
                    if state["circuit"]["openedAt"] is not None:
                        opened_at.setdefault(key, parse_iso_ms(state["circuit"]["openedAt"]))

        reader = asyncio.create_task(read_back())
        node.stdin.write(b"start\n")
        await node.stdin.drain()
        out = os.path.join(workdir, f"calls-{run}-{flapping}.json")
        publisher = subprocess.Popen(
            [sys.executable, "-m", "bench.sdk_publisher", stack.kafka_bootstrap, prefix, str(SERVICES),
             str(flapping), str(RATE), str(WARMUP_S), str(SECONDS), out], cwd=ROOT)
        await asyncio.sleep(WARMUP_S)
        servers = [api.pid, worker.pid, *descendants(worker.pid)]
        spies = {name: profile(pid, os.path.join(workdir, f"{name}-{run}-{flapping}.pyspy.txt"))
                 for name, pid in (("gateway", api.pid), ("aggregator", worker.pid))} if PROFILE else {}
        cpu_before = {"api": cpu_of([api.pid]), "aggregator": cpu_of(servers[1:]), "node": cpu_of([node.pid]),
                      "publisher": cpu_of([publisher.pid])}
        started = time.monotonic()
        await asyncio.sleep(SECONDS)
        elapsed = time.monotonic() - started
        cpu = {"api": cpu_of([api.pid]), "aggregator": cpu_of(servers[1:]), "node": cpu_of([node.pid]),
               "publisher": cpu_of([publisher.pid])}
        cpu = {name: (cpu[name] - cpu_before[name]) / elapsed for name in cpu}
        await asyncio.to_thread(publisher.wait, 120)
        for spy, _ in spies.values():
            await asyncio.to_thread(spy.wait, 60)
        await asyncio.sleep(2.0)  # the last batch window and the slowest client
        node.stdin.write(b"stop\n")
        await node.stdin.drain()
        result = codec.loads(await asyncio.wait_for(node.stdout.readline(), 120))
        node.stdin.write(b"exit\n")
        await node.stdin.drain()
    finally:
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        await consumer.stop()
        if node is not None and node.returncode is None:
            try:
                await asyncio.wait_for(node.wait(), 10)
            except asyncio.TimeoutError:
                node.kill()
        stop_processes(publisher, api, worker, wait_s=60)
    published = codec.loads(Path(out).read_bytes())
    figures = analyse(published, result["updates"], result["clients"], at_topic, opened_at)
    print(f"run {run}, {flapping} flapping services: {ready['ready']} clients, SDK generator reached "
          f"{published['rate']:,.0f} outcomes/s "
          f"(asked {RATE:,}; {published['sent']:,} sent, {published['delivered']:,} delivered, "
          f"{published['dropped']} dropped); {len(result['updates']):,} distinct updates received, "
          f"{figures['incomplete']} not by every client, {result['closed']} sockets closed, "
          f"{figures['timer_driven']} circuit changes by the clock alone (not timed)", flush=True)
    labels = {"open": "breaker opened (from the tripping call)",
              "close": "breaker closed (from the first call after its reset timeout)",
              "circuit": "other circuit-state changes (from the oldest call shown)",
              "other": "other updates"}
    for kind, label in labels.items():
        f = figures[kind]
        if not f["all"]:
            continue
        print(f"  SDK call -> every client, {label}: {summary(f['all'])}", flush=True)
        print(f"    split: SDK call -> breaker-states {summary(f['to_topic'])}; breaker-states -> every client "
              f"{summary(f['from_topic'])}", flush=True)
    print(f"  per outcome (each call to the first update showing it): {summary(figures['outcomes'])}", flush=True)
    print(f"  circuit moves timed: {figures['moves']}", flush=True)
    for name, (_, raw_profile) in spies.items():
        print(f"  py-spy of the {name} over {min(SECONDS, 10):.0f}s, idle samples included ({raw_profile}):",
              flush=True)
        for line in top_frames(raw_profile, 8):
            print("    " + line, flush=True)
    print(f"  CPU (cores): api {cpu['api']:.2f}, aggregator {cpu['aggregator']:.2f}, Node.js clients "
          f"{cpu['node']:.2f}, SDK publisher {cpu['publisher']:.2f}", flush=True)


def run() -> None:
    stack = start_stack()
    workdir = tempfile.mkdtemp(prefix="fusebox-bench-e2e-")
    print(f"SDK publish -> service:update at {CLIENTS} WebSocket clients, {RATE:,} outcomes/s over {SERVICES} "
          f"services for {SECONDS:.0f}s, batch window {BATCH_MS} ms; each run with {FLAPPING} flapping services, "
          f"then with none", flush=True)
    try:
        for run_number in range(1, RUNS + 1):
            # with circuit changes, then without: a circuit change flushes at once what is pending, so the other
            # updates of the first phase seldom wait out the batch window
            asyncio.run(one_run(stack, workdir, run_number, FLAPPING))
            asyncio.run(one_run(stack, workdir, run_number, 0))
    finally:
        stack.close()


if __name__ == "__main__":
    run()
