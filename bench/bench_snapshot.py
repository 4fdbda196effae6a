"""The fleet's snapshot: FUSEBOX_BENCH_SNAPSHOT_SERVICES services (default 10,000) in the gateway's state view.

- `GET /status`: time to the first byte of the answer and to its last byte, and its size, one request at a time
  (FUSEBOX_BENCH_SNAPSHOT_REQUESTS, default 20, over a fresh connection each), beside a bare aiohttp handler
  serving the same bytes, requests alternating between the two;
- the WebSocket connect snapshot: time from opening a socket to its first message (`connection:status`) and to the
  last snapshot message, at a Node.js client (bench/ws_clients.mjs), one socket at a time
  (FUSEBOX_BENCH_SNAPSHOT_SOCKETS, default 10 in turn) and then 10 opened at once, beside a bare aiohttp handler
  sending the same messages with one `send_str` each.

Starts its own Kafka, PostgreSQL and Redis (tests.harness.start_stack), fills `breaker-states` as the aggregator
would, and runs the gateway as `fusebox api`.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.bench_api import (SECRET, cpu_seconds, gateway_database, percentile, run_on_stack, start_gateway,
                             stop_processes, wait_http, wait_services)
from fusebox.auth import mint_token
from fusebox.core import codec
from fusebox.kafka_admin import ensure_topics
from tests.harness import ROOT, free_port
from tests.integration.api.support import Topics, service_state

SERVICES = int(os.environ.get("FUSEBOX_BENCH_SNAPSHOT_SERVICES", "10000"))
REQUESTS = int(os.environ.get("FUSEBOX_BENCH_SNAPSHOT_REQUESTS", "20"))
SOCKETS = int(os.environ.get("FUSEBOX_BENCH_SNAPSHOT_SOCKETS", "10"))
AT_ONCE = 10

# The baseline: the same /status bytes from a bare handler, and a WebSocket handler that sends a connection:status
# and then every service:update of the snapshot with one send_str each, nothing else.
BARE_FLEET = """
import sys
from aiohttp import web
body = open(sys.argv[1], "rb").read()
messages = [line.decode() for line in open(sys.argv[2], "rb").read().split(b"\\n") if line]
status = '{"type":"connection:status","status":"connected","snapshotSize":%d}' % len(messages)
async def fleet(request):
    return web.Response(body=body, content_type="application/json")
async def ws_handler(request):
    ws = web.WebSocketResponse(protocols=("fusebox.v1",))
    await ws.prepare(request)
    await ws.send_str(status)
    for message in messages:
        await ws.send_str(message)
    async for _ in ws:
        pass
    return ws
app = web.Application()
app.router.add_get("/api/admin/circuit-breaker/status", fleet)
app.router.add_get("/ws", ws_handler)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[3]), print=None, access_log=None)
"""


async def get_timed(port: int, path: str, token: str | None) -> tuple[float, float, bytes]:
    """Seconds to the first byte of the answer and to its last, and the body: one GET on a new connection
    (Connection: close, no compression asked for), read with plain asyncio streams."""
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Connection: close\r\n\r\n".encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        started = time.perf_counter()
        writer.write(request)
        await writer.drain()
        received = [await reader.read(65536)]
        first = time.perf_counter() - started
        while chunk := await reader.read(1 << 20):
            received.append(chunk)
        last = time.perf_counter() - started
    finally:
        writer.close()
    answer = b"".join(received)
    head, _, body = answer.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"GET {path}: {head[:100]!r}")
    return first, last, body


async def snapshot_timed(url: str, token: str, sockets: int, compression: str) -> dict:
    """The Node.js client's figures for `sockets` sockets opened at once: per socket, ms to the first message and
    to the last snapshot message, and the client's CPU. `compression`: "deflate" offers permessage-deflate, as
    browsers do."""
    node = await asyncio.create_subprocess_exec(
        "node", str(ROOT / "bench" / "ws_clients.mjs"), url, token, str(sockets), "fanout", compression,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT)
    try:
        ready = codec.loads(await asyncio.wait_for(node.stdout.readline(), 120))
        node.stdin.write(b"exit\n")
        await node.stdin.drain()
        await asyncio.wait_for(node.wait(), 10)
    finally:
        if node.returncode is None:
            node.kill()
    if ready["ready"] != sockets:
        raise RuntimeError(f"{ready['ready']} of {sockets} sockets got their snapshot")
    return {**ready["snapshot"], "client_cpu_ms": ready["client_cpu_ms"]}


def ms(values: list[float]) -> str:
    return f"p50 {percentile(values, 50) * 1000:6.1f} ms, max {max(values) * 1000:6.1f} ms"


async def bench(stack) -> None:
    prefix = f"snap{uuid.uuid4().hex[:6]}."
    await ensure_topics(stack.kafka_bootstrap, prefix)
    database_url = gateway_database(stack, prefix)
    topics = Topics(stack.kafka_bootstrap, prefix)
    await topics.start()
    names = [f"fleet-{i:05d}" for i in range(SERVICES)]
    await topics.publish_states([service_state(name, version=1) for name in names])
    await topics.stop()

    api_port, bare_port = free_port(), free_port()
    api = start_gateway(stack, prefix, database_url, api_port, 64 * 1024 * 1024, AT_ONCE + 1)
    bare = None
    try:
        await wait_http(f"http://127.0.0.1:{api_port}/readyz", 120)
        token = mint_token(SECRET, "bench")
        path = "/api/admin/circuit-breaker/status"
        await wait_services(f"http://127.0.0.1:{api_port}{path}", {"Authorization": f"Bearer {token}"}, SERVICES,
                            120)
        # the bare server's bytes: the gateway's own /status body, and the snapshot messages the gateway sends
        workdir = Path(tempfile.mkdtemp(prefix="fusebox-bench-snapshot-"))
        body = (await get_timed(api_port, path, token))[2]
        states = codec.loads(body)
        (workdir / "status.json").write_bytes(body)
        (workdir / "messages.jsonl").write_bytes(b"\n".join(
            codec.dumps({"type": "service:update", "service": s["service"], "seq": n, "data": s})
            for n, s in enumerate(states, 1)))
        bare = subprocess.Popen([sys.executable, "-c", BARE_FLEET, str(workdir / "status.json"),
                                 str(workdir / "messages.jsonl"), str(bare_port)], cwd=ROOT)
        await wait_http(f"http://127.0.0.1:{bare_port}{path}")

        timings: dict[str, list[tuple[float, float, bytes]]] = {"gateway": [], "bare": []}
        for _ in range(REQUESTS):
            timings["gateway"].append(await get_timed(api_port, path, token))
            timings["bare"].append(await get_timed(bare_port, path, None))
        print(f"GET /status, {SERVICES:,} services, {REQUESTS} requests each, one at a time, alternating:", flush=True)
        for label, rows in timings.items():
            print(f"  {label:7}: first byte {ms([r[0] for r in rows])}; last byte {ms([r[1] for r in rows])}; "
                  f"{len(rows[0][2]):,} bytes", flush=True)
        last_p50 = {label: percentile([r[1] for r in rows], 50) for label, rows in timings.items()}
        print(f"  gateway / bare, last byte p50: x{last_p50['gateway'] / last_p50['bare']:.2f}", flush=True)

        print(f"WebSocket connect snapshot, {SERVICES:,} services ({len(states):,} service:update messages), "
              f"Node.js client (bench/ws_clients.mjs):", flush=True)
        pids = {"gateway": api.pid, "bare": bare.pid}
        urls = {"gateway": f"ws://127.0.0.1:{api_port}/api/admin/ws", "bare": f"ws://127.0.0.1:{bare_port}/ws"}
        for compression in ("", "deflate"):
            offered = "permessage-deflate offered" if compression else "no compression offered"
            one: dict[str, list[dict]] = {"gateway": [], "bare": []}
            cpu = {"gateway": 0.0, "bare": 0.0}
            for _ in range(SOCKETS):
                for label, url in urls.items():
                    before = cpu_seconds(pids[label])
                    one[label].append(await snapshot_timed(url, token, 1, compression))
                    cpu[label] += cpu_seconds(pids[label]) - before
            for label, rows in one.items():
                firsts = [r["first"]["max_ms"] / 1000 for r in rows]
                lasts = [r["last"]["max_ms"] / 1000 for r in rows]
                print(f"  {label:7}, {offered}, one socket at a time ({SOCKETS}): first message {ms(firsts)}; "
                      f"last snapshot message {ms(lasts)}; CPU per snapshot: server {cpu[label] / SOCKETS * 1000:.0f} "
                      f"ms, Node.js client {sum(r['client_cpu_ms'] for r in rows) / SOCKETS:.0f} ms", flush=True)
            for label, url in urls.items():
                many = await snapshot_timed(url, token, AT_ONCE, compression)
                print(f"  {label:7}, {offered}, {AT_ONCE} sockets at once: first message p50 "
                      f"{many['first']['p50_ms']:.0f} ms, max {many['first']['max_ms']:.0f} ms; last snapshot "
                      f"message p50 {many['last']['p50_ms']:.0f} ms, max {many['last']['max_ms']:.0f} ms", flush=True)
    finally:
        stop_processes(api, bare)


def run() -> None:
    run_on_stack(bench)


if __name__ == "__main__":
    run()
