"""Gateway benchmarks: GET /status with 1,000 services against a bare aiohttp handler serving the same bytes,
and WebSocket fan-out: 50 state changes/s (10 % of them circuit-state changes) to 1,000 sockets, breaker-states
record → received by every client, beside a bare aiohttp broadcaster (BARE_BROADCASTER) with the same Node.js
clients (bench/ws_clients.mjs, the `ws` package) in the same run, three runs; then 5,000 sockets at 10 changes/s
and the gateway's memory per connected client.

Starts its own Kafka, PostgreSQL and Redis (tests.harness.start_stack) and runs the gateway as `fusebox api`.
"""
from __future__ import annotations

import asyncio
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import psycopg
from aiokafka import AIOKafkaConsumer

from fusebox.auth import mint_token
from fusebox.core import codec
from fusebox.kafka_admin import ensure_topics
from fusebox.storage.migrations import apply_migrations
from fusebox.storage.schema import schema_for_prefix
from fusebox.topic_reader import assigned_partitions
from tests.harness import ROOT, free_port, start_stack
from tests.integration.api.support import Topics, service_state

SERVICES = 1000
HTTP_SECONDS = 8.0
HTTP_CONCURRENCY = 32
WS_CLIENTS = 1000
WS_CHANGES_PER_S = 50
WS_SECONDS = 10.0
WS_SERVICES = 100  # the snapshot each socket gets at connect: 100 messages
WS_RUNS = 3
WS_BATCH_MS = 150
CIRCUIT_SHARE = 0.10
WS_BIG_CLIENTS = 5000
WS_BIG_CHANGES_PER_S = 10
SENT_AT = re.compile(rb'"benchSentAt":([0-9.]+)')
SECRET = "bench-secret-0123456789abcdef0123456789abcdef"

BARE_SERVER = """
import sys
from aiohttp import web
body = open(sys.argv[1], "rb").read()
async def status(request):
    return web.Response(body=body, content_type="application/json")
app = web.Application()
app.router.add_get("/api/admin/circuit-breaker/status", status)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[2]), print=None, access_log=None)
"""


# The baseline: consume breaker-states, send_str each record to every socket, nothing else (one hello per socket so
# the load generator knows it is connected).
BARE_BROADCASTER = """
import asyncio, sys
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
bootstrap, topic, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
sockets = set()
async def ws_handler(request):
    ws = web.WebSocketResponse(protocols=("fusebox.v1",))
    await ws.prepare(request)
    await ws.send_str('{"type":"connection:status","status":"connected","snapshotSize":0}')
    sockets.add(ws)
    try:
        async for _ in ws:
            pass
    finally:
        sockets.discard(ws)
    return ws
async def broadcast(app):
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    metadata = await consumer._client.fetch_all_metadata()
    partitions = [TopicPartition(topic, p) for p in metadata.partitions_for_topic(topic)]
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    for p in partitions:
        await consumer.position(p)
    print("ready", flush=True)
    async def loop():
        async for record in consumer:
            text = record.value.decode()
            for ws in list(sockets):
                await ws.send_str(text)
    task = asyncio.create_task(loop())
    yield
    task.cancel()
    await consumer.stop()
app = web.Application()
app.router.add_get("/ws", ws_handler)
app.cleanup_ctx.append(broadcast)
web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_http(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} not ready")


async def wait_services(status_url: str, headers: dict, count: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession(headers=headers) as session:
        while time.monotonic() < deadline:
            async with session.get(status_url) as response:
                if len(codec.loads(await response.read())) == count:
                    return
            await asyncio.sleep(0.3)
    raise RuntimeError(f"the gateway did not come down to {count} services")


async def load(url: str, headers: dict) -> tuple[float, float, int]:
    """Requests/s and p99 latency (ms) of GET `url` with HTTP_CONCURRENCY workers for HTTP_SECONDS."""
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=HTTP_CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        deadline = time.monotonic() + HTTP_SECONDS

        async def worker() -> None:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                    assert response.status == 200
                latencies.append(time.perf_counter() - started)

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(HTTP_CONCURRENCY)))
        elapsed = time.monotonic() - started
    return len(latencies) / elapsed, percentile(latencies, 99) * 1000, len(latencies)


async def start_bare_broadcaster(bootstrap: str, topic: str, port: int) -> subprocess.Popen:
    bare = subprocess.Popen([sys.executable, "-c", BARE_BROADCASTER, bootstrap, topic, str(port)],
                            stdout=subprocess.PIPE, cwd=ROOT)
    line = await asyncio.wait_for(asyncio.to_thread(bare.stdout.readline), 60)
    if line.strip() != b"ready":
        raise RuntimeError("the bare broadcaster did not start")
    return bare


async def fan_out(ws_url: str, token: str, topics: Topics, server_pid: int, *, clients: int, changes_per_s: int,
                  seconds: float = WS_SECONDS, query: str = "") -> dict:
    """One phase: `clients` Node.js sockets on `ws_url`, `changes_per_s` breaker-states records for `seconds`,
    CIRCUIT_SHARE of them circuit-state changes. Returns the client's figures, the server's CPU and RSS growth."""
    rss_before = rss_mib(server_pid)
    node = await asyncio.create_subprocess_exec(
        "node", str(ROOT / "bench" / "ws_clients.mjs"), ws_url + query, token, str(clients),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT)

    async def command(word: str) -> dict | None:
        node.stdin.write(word.encode() + b"\n")
        await node.stdin.drain()
        if word == "exit":
            return None
        return codec.loads(await asyncio.wait_for(node.stdout.readline(), 120))

    # The floor under every figure: the same records read back by a bare consumer in this process
    floor: list[float] = []
    consumer = AIOKafkaConsumer(bootstrap_servers=topics.bootstrap, enable_auto_commit=False)
    await consumer.start()
    tps = await assigned_partitions(consumer, topics.prefix + "breaker-states")
    await consumer.seek_to_end(*tps)

    async def read_back() -> None:
        async for record in consumer:
            match = SENT_AT.search(record.value or b"")
            if match:
                floor.append(time.time() - float(match.group(1)))

    reader = asyncio.create_task(read_back())
    try:
        ready = codec.loads(await asyncio.wait_for(node.stdout.readline(), 300))
        await asyncio.sleep(1)
        rss_connected = rss_mib(server_pid)
        node.stdin.write(b"start\n")
        await node.stdin.drain()
        cpu_before, started = cpu_seconds(server_pid), time.monotonic()
        rng = random.Random(7)
        sent = 0
        while time.monotonic() - started < seconds:
            service = f"bench-{rng.randrange(WS_SERVICES):04d}"
            circuit_change = rng.random() < CIRCUIT_SHARE
            if circuit_change:
                circuits[service] = "open" if circuits[service] == "closed" else "closed"
            versions[service] += 1
            state = service_state(service, version=versions[service], circuit={"state": circuits[service]},
                                  benchSentAt=time.time(), benchCircuit=int(circuit_change))
            await topics.producer.send(topics.prefix + "breaker-states", key=service.encode(),
                                       value=codec.dumps(state))
            sent += 1
            await asyncio.sleep(max(0.0, started + sent / changes_per_s - time.monotonic()))
        await asyncio.sleep(1.5)  # the last batch window and the slowest client
        cpu = (cpu_seconds(server_pid) - cpu_before) / (time.monotonic() - started)
        result = await command("stop")
        await command("exit")
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await consumer.stop()
        if node.returncode is None:
            try:
                await asyncio.wait_for(node.wait(), 10)
            except asyncio.TimeoutError:
                node.kill()
    result.update(changes=sent, server_cpu_cores=cpu, kafka_p99_ms=percentile(floor, 99) * 1000, ready=ready["ready"],
                  rss_per_client_kib=(rss_connected - rss_before) * 1024 / max(1, ready["ready"]))
    return result


circuits: dict[str, str] = {}
versions: dict[str, int] = {}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def show(label: str, result: dict) -> None:
    circuit, other = result["circuit"]["every_client"], result["other"]["every_client"]
    print(f"  {label}: {result['clients']} clients, {result['changes']} changes; record -> every client: "
          f"circuit p50 {ms(circuit['p50_ms'])} p99 {ms(circuit['p99_ms'])} ms (n={circuit['n']}), "
          f"other p50 {ms(other['p50_ms'])} p99 {ms(other['p99_ms'])} ms (n={other['n']}); "
          f"per delivery p99 {ms(result['circuit']['deliveries']['p99_ms'])} / "
          f"{ms(result['other']['deliveries']['p99_ms'])} ms; incomplete {result['incomplete_updates']}, "
          f"closed {result['closed']}; server CPU {result['server_cpu_cores']:.2f} cores, "
          f"client CPU {result['client_cpu_cores']:.2f} cores; Kafka floor (record -> bare consumer) p99 "
          f"{result['kafka_p99_ms']:.0f} ms", flush=True)


def p99_ratio(ours: dict, baseline: dict, kind: str) -> float:
    return (ours[kind]["every_client"]["p99_ms"] or float("nan")) / (baseline[kind]["every_client"]["p99_ms"]
                                                                       or float("nan"))


def worst_p99(result: dict) -> float:
    return max(result[kind]["every_client"]["p99_ms"] or float("nan") for kind in ("circuit", "other"))


def gateway_database(stack, prefix: str) -> str:
    """The URL of a database of its own for one gateway under test, migrated for `prefix`."""
    db_name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    database_url = stack.database_url.rsplit("/", 1)[0] + "/" + db_name
    apply_migrations(database_url, schema_for_prefix(prefix))
    return database_url


def start_gateway(stack, prefix: str, database_url: str, port: int, max_pending_bytes: int, max_sockets: int,
                  **env: str) -> subprocess.Popen:
    """`fusebox api` on `port`, allowing one admin `max_sockets` WebSockets of up to `max_pending_bytes` unsent each."""
    env = stack.env(FUSEBOX_TOPIC_PREFIX=prefix, FUSEBOX_DATABASE_URL=database_url, FUSEBOX_JWT_SECRET=SECRET,
                    FUSEBOX_API_PORT=str(port), FUSEBOX_API_WS_CLIENT_MAX_PENDING_BYTES=str(max_pending_bytes),
                    FUSEBOX_API_WS_MAX_CONNECTIONS_PER_ADMIN=str(max_sockets), **env)
    return subprocess.Popen([sys.executable, "-m", "fusebox.cli", "api"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def bench(stack) -> None:
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    await ensure_topics(stack.kafka_bootstrap, prefix)
    database_url = gateway_database(stack, prefix)
    topics = Topics(stack.kafka_bootstrap, prefix)
    await topics.start()
    await topics.publish_states([service_state(f"bench-{i:04d}", version=1) for i in range(SERVICES)])

    api_port, bare_port = free_port(), free_port()
    api = start_gateway(stack, prefix, database_url, api_port, 16 * 1024 * 1024, WS_BIG_CLIENTS,
                        FUSEBOX_API_WS_BATCH_MS=str(WS_BATCH_MS))
    bare = None
    try:
        await wait_http(f"http://127.0.0.1:{api_port}/readyz")
        headers = {"Authorization": f"Bearer {mint_token(SECRET, 'bench')}"}
        status_url = f"http://127.0.0.1:{api_port}/api/admin/circuit-breaker/status"
        async with aiohttp.ClientSession(headers=headers) as session:
            async with session.get(status_url) as response:
                body = await response.read()
        body_file = Path(tempfile.mkstemp(suffix=".json")[1])
        body_file.write_bytes(body)
        bare = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(body_file), str(bare_port)])
        bare_url = f"http://127.0.0.1:{bare_port}/api/admin/circuit-breaker/status"
        await wait_http(bare_url)

        api_rps, api_p99, api_n = await load(status_url, headers)
        bare_rps, bare_p99, bare_n = await load(bare_url, {})
        print(f"GET /status, {SERVICES} services, {len(body)} bytes, {HTTP_CONCURRENCY} concurrent, "
              f"{HTTP_SECONDS:.0f}s each:")
        print(f"  gateway: {api_rps:8.0f} req/s  p99 {api_p99:6.1f} ms  ({api_n} requests)")
        print(f"  bare   : {bare_rps:8.0f} req/s  p99 {bare_p99:6.1f} ms  ({bare_n} requests)")
        print(f"  ratio gateway/bare: {api_rps / bare_rps:.2f} of the throughput", flush=True)
        bare.terminate()

        # the fan-out keeps WS_SERVICES services: each socket's connect snapshot is that many messages
        for i in range(WS_SERVICES, SERVICES):
            await topics.producer.send(topics.prefix + "breaker-states", key=f"bench-{i:04d}".encode(), value=None)
        await topics.producer.flush()
        await wait_services(status_url, headers, WS_SERVICES)
        token = mint_token(SECRET, "bench")
        api_ws = f"ws://127.0.0.1:{api_port}/api/admin/ws"
        ws_bare_port = free_port()
        bare = await start_bare_broadcaster(stack.kafka_bootstrap, topics.prefix + "breaker-states", ws_bare_port)
        bare_ws = f"ws://127.0.0.1:{ws_bare_port}/ws"
        for i in range(WS_SERVICES):
            circuits[f"bench-{i:04d}"], versions[f"bench-{i:04d}"] = "closed", 1
        print(f"WebSocket fan-out, {WS_CLIENTS} Node.js clients (bench/ws_clients.mjs), {WS_CHANGES_PER_S} "
              f"changes/s over {WS_SERVICES} services for {WS_SECONDS:.0f}s, {CIRCUIT_SHARE:.0%} circuit-state "
              f"changes, batch window {WS_BATCH_MS} ms:", flush=True)
        for run in range(1, WS_RUNS + 1):
            gateway = await fan_out(api_ws, token, topics, api.pid, clients=WS_CLIENTS,
                                    changes_per_s=WS_CHANGES_PER_S)
            show(f"run {run} gateway", gateway)
            batched = await fan_out(api_ws, token, topics, api.pid, clients=WS_CLIENTS,
                                    changes_per_s=WS_CHANGES_PER_S, query="?frames=batch")
            show(f"run {run} gateway, service:batch", batched)
            baseline = await fan_out(bare_ws, token, topics, bare.pid, clients=WS_CLIENTS,
                                     changes_per_s=WS_CHANGES_PER_S)
            show(f"run {run} bare   ", baseline)
            for label, ours in (("gateway", gateway), ("gateway, service:batch", batched)):
                print(f"  run {run} {label} / bare: circuit p99 x{p99_ratio(ours, baseline, 'circuit'):.2f}, "
                      f"other p99 x{p99_ratio(ours, baseline, 'other'):.2f} (other changes wait for the batch "
                      f"window by design); worst p99 x{worst_p99(ours) / worst_p99(baseline):.2f}; CPU "
                      f"x{ours['server_cpu_cores'] / max(baseline['server_cpu_cores'], 1e-3):.2f}", flush=True)
        big = await fan_out(api_ws, token, topics, api.pid, clients=WS_BIG_CLIENTS,
                            changes_per_s=WS_BIG_CHANGES_PER_S)
        show(f"{WS_BIG_CLIENTS} clients at {WS_BIG_CHANGES_PER_S}/s, gateway", big)
        print(f"  gateway memory per connected client: {big['rss_per_client_kib']:.0f} KiB (RSS growth / clients)",
              flush=True)
        big_bare = await fan_out(bare_ws, token, topics, bare.pid, clients=WS_BIG_CLIENTS,
                                 changes_per_s=WS_BIG_CHANGES_PER_S)
        show(f"{WS_BIG_CLIENTS} clients at {WS_BIG_CHANGES_PER_S}/s, bare   ", big_bare)
    finally:
        stop_processes(api, bare)
        await topics.stop()


def stop_processes(*processes: subprocess.Popen | None, wait_s: float = 10) -> None:
    """Terminate each process still running (None: never started) and wait for it."""
    for process in processes:
        if process is not None:
            process.terminate()
            process.wait(wait_s)


def run_on_stack(bench) -> None:
    """Run the coroutine function `bench` on a Kafka, PostgreSQL and Redis of its own."""
    stack = start_stack()
    try:
        asyncio.run(bench(stack))
    finally:
        stack.close()


def run() -> None:
    run_on_stack(bench)


if __name__ == "__main__":
    run()
