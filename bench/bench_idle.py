"""What the aggregator and the API cost while (nearly) nothing happens: CPU (cores) of each at 0 and at 100 outcomes/s.

Starts its own Kafka, PostgreSQL and Redis (tests.harness), one `fusebox aggregator` (its supervisor and worker
counted together) and one `fusebox api`, lets them settle, then reads each process tree's CPU time from
/proc/<pid>/stat over fixed windows: three windows with no traffic, three at a steady 100 outcomes/s over 50
services. `FUSEBOX_BENCH_PROFILE=1` also records a py-spy profile (flame graph SVG) of each service while idle.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from bench.bench_aggregator import descendants
from fusebox.kafka_admin import ensure_topics
from fusebox.storage.migrations import apply_migrations
from fusebox.storage.schema import schema_for_prefix
from fusebox.core.topics import ALL_TOPICS
from tests.harness import ROOT, free_port, start_stack

WINDOW_S = float(os.environ.get("FUSEBOX_BENCH_IDLE_WINDOW_S", "20"))
SETTLE_S = 15.0
RUNS = 3
RATE = 100
SERVICES = [f"idle-{i:02d}" for i in range(50)]
TARGET_CORES = 0.02


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` and every process below it."""
    total = 0
    for member in (pid, *descendants(pid)):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wait_ready(url: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(url, timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready")


async def window(pids: dict[str, int], bootstrap: str, topic: str, rate: int) -> dict[str, float]:
    """Cores used by each process tree over WINDOW_S while `rate` outcomes/s are produced (0: none)."""
    producer = None
    if rate:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
        await producer.start()
    try:
        before = {name: tree_cpu_seconds(pid) for name, pid in pids.items()}
        started = time.monotonic()
        sent = 0
        while time.monotonic() - started < WINDOW_S:
            if producer is not None:
                service = SERVICES[sent % len(SERVICES)]
                value = orjson.dumps({"service": service, "outcome": "success", "latencyMs": 12.5,
                                      "ts": int(time.time() * 1000), "eventId": str(uuid.uuid4()),
                                      "instance": "bench-idle", "error": None})
                await producer.send(topic, key=service.encode(), value=value)
                sent += 1
                await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))
            else:
                await asyncio.sleep(0.5)
        elapsed = time.monotonic() - started
        return {name: (tree_cpu_seconds(pid) - before[name]) / elapsed for name, pid in pids.items()}
    finally:
        if producer is not None:
            await producer.stop()


def profile(pid: int, name: str, workdir: str) -> None:
    svg = os.path.join(workdir, f"idle-{name}.svg")
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "py-spy"), "record", "--subprocesses",
                    "--idle", "--duration", str(int(WINDOW_S)), "--rate", "200", "--pid", str(pid), "--output", svg],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    print(f"  py-spy profile of the idle {name}: {svg}", flush=True)


def run() -> None:
    stack = start_stack()
    workdir = tempfile.mkdtemp(prefix="fusebox-bench-idle-")
    processes: list[subprocess.Popen] = []
    try:
        prefix = f"idle{uuid.uuid4().hex[:6]}."
        asyncio.run(ensure_topics(stack.kafka_bootstrap, prefix, ALL_TOPICS))
        apply_migrations(stack.database_url, schema_for_prefix(prefix))
        agg_port, api_port = free_port(), free_port()
        env = stack.env(FUSEBOX_TOPIC_PREFIX=prefix, FUSEBOX_JWT_SECRET="bench-secret-0123456789abcdef0123456789ab",
                        FUSEBOX_AGGREGATOR_PORT=str(agg_port), FUSEBOX_API_PORT=str(api_port),
                        FUSEBOX_AGGREGATOR_DATA_DIR=os.path.join(workdir, "data"),
                        FUSEBOX_AGGREGATOR_APP_ID=f"bench-idle-{uuid.uuid4().hex[:6]}")
        for name in ("aggregator", "api"):
            processes.append(subprocess.Popen([sys.executable, "-m", "fusebox.cli", name], env=env, cwd=ROOT,
                                              stdout=open(os.path.join(workdir, f"{name}.log"), "wb"),
                                              stderr=subprocess.STDOUT))
        wait_ready(f"http://127.0.0.1:{agg_port}/readyz")
        wait_ready(f"http://127.0.0.1:{api_port}/readyz")
        time.sleep(SETTLE_S)
        pids = {"aggregator": processes[0].pid, "api": processes[1].pid}
        topic = prefix + "call-outcomes"
        print(f"CPU (cores) over {WINDOW_S:.0f}s windows, target idle <= {TARGET_CORES} each:", flush=True)
        for rate in (0, RATE):
            for i in range(1, RUNS + 1):
                cores = asyncio.run(window(pids, stack.kafka_bootstrap, topic, rate))
                print(f"  {rate:3d} outcomes/s, run {i}: aggregator {cores['aggregator']:.3f}  "
                      f"api {cores['api']:.3f}", flush=True)
            if rate == 0 and os.environ.get("FUSEBOX_BENCH_PROFILE") == "1":
                for name, pid in pids.items():
                    profile(pid, name, workdir)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        stack.close()


if __name__ == "__main__":
    run()
