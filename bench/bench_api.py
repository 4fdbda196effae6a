"""Gateway benchmarks: GET /status with 1,000 services against a bare aiohttp handler serving the same bytes,
and WebSocket fan-out of 50 state changes/s to 1,000 clients (breaker-states record → client receipt, server CPU).

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

from fusebox.auth import mint_token
from fusebox.core import codec
from fusebox.kafka_admin import ensure_topics
from fusebox.storage.migrations import apply_migrations
from fusebox.storage.schema import schema_for_prefix
from tests.harness import ROOT, free_port, start_stack
from tests.integration.api.support import Topics, service_state

SERVICES = 1000
HTTP_SECONDS = 8.0
HTTP_CONCURRENCY = 32
WS_CLIENTS = 1000
WS_CHANGES_PER_S = 50
WS_SECONDS = 10.0
SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
SENT_AT = re.compile(rb'"benchSentAt":([0-9.]+)')

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


async def fan_out(ws_url: str, token: str, topics: Topics, server_pid: int) -> dict:
    latencies: list[float] = []
    connected = 0
    stop = asyncio.Event()

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal connected
        async with session.ws_connect(ws_url, max_msg_size=0, protocols=("fusebox.v1", f"bearer.{token}")) as ws:
            connected += 1
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                data = message.data.encode() if isinstance(message.data, str) else message.data
                if data.startswith(b'{"type":"ping"'):
                    await ws.send_str(message.data.replace('"ping"', '"pong"', 1))
                    continue
                match = SENT_AT.search(data)
                if match and not stop.is_set():
                    latencies.append(time.time() - float(match.group(1)))

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(client(session)) for _ in range(WS_CLIENTS)]
        deadline = time.monotonic() + 60
        while connected < WS_CLIENTS and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(2)  # let the snapshots drain
        latencies.clear()
        cpu_before, started = cpu_seconds(server_pid), time.monotonic()
        sent = 0
        while time.monotonic() - started < WS_SECONDS:
            service = f"bench-{random.randrange(SERVICES):04d}"
            state = service_state(service, version=sent + 2, benchSentAt=time.time())
            await topics.producer.send(topics.prefix + "breaker-states", key=service.encode(),
                                       value=codec.dumps(state))
            sent += 1
            await asyncio.sleep(max(0.0, started + sent / WS_CHANGES_PER_S - time.monotonic()))
        await asyncio.sleep(2)
        cpu = (cpu_seconds(server_pid) - cpu_before) / (time.monotonic() - started)
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"clients": connected, "changes": sent, "deliveries": len(latencies),
            "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
            "server_cpu_cores": cpu}


async def bench(stack) -> None:
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    await ensure_topics(stack.kafka_bootstrap, prefix)
    db_name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    database_url = stack.database_url.rsplit("/", 1)[0] + "/" + db_name
    apply_migrations(database_url, schema_for_prefix(prefix))
    topics = Topics(stack.kafka_bootstrap, prefix)
    await topics.start()
    await topics.publish_states([service_state(f"bench-{i:04d}", version=1) for i in range(SERVICES)])

    api_port, bare_port = free_port(), free_port()
    env = stack.env(FUSEBOX_TOPIC_PREFIX=prefix, FUSEBOX_DATABASE_URL=database_url, FUSEBOX_JWT_SECRET=SECRET,
                    FUSEBOX_API_PORT=str(api_port), FUSEBOX_API_WS_CLIENT_MAX_PENDING_BYTES=str(16 * 1024 * 1024),
                    FUSEBOX_API_WS_MAX_CONNECTIONS_PER_ADMIN=str(WS_CLIENTS))
    api = subprocess.Popen([sys.executable, "-m", "fusebox.cli", "api"], env=env, cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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

        result = await fan_out(f"ws://127.0.0.1:{api_port}/api/admin/ws", mint_token(SECRET, "bench"), topics,
                               api.pid)
        print(f"WebSocket fan-out: {result['clients']} clients, {WS_CHANGES_PER_S} changes/s for "
              f"{WS_SECONDS:.0f}s ({result['changes']} changes, {result['deliveries']} deliveries):")
        print(f"  breaker-states record -> client receipt: p50 {result['p50_ms']:.1f} ms, "
              f"p99 {result['p99_ms']:.1f} ms; server CPU {result['server_cpu_cores']:.2f} cores", flush=True)
    finally:
        for process in (api, bare):
            if process is not None:
                process.terminate()
                process.wait(10)
        await topics.stop()


def run() -> None:
    stack = start_stack()
    try:
        asyncio.run(bench(stack))
    finally:
        stack.close()


if __name__ == "__main__":
    run()
