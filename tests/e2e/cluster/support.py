"""A local cluster (`make up-cluster`: 3 workers, 2 API replicas) on the test stack, and what the
rolling-restart tests watch it with: a follower of breaker-states and a readiness-aware proxy that
stands in for the Kubernetes Service in front of the API replicas."""
from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition

from fusebox.core import codec
from fusebox.core.topics import BREAKER_STATES
from tests.harness import ROOT, Stack

DEMO_SH = ROOT / "deploy" / "local" / "demo.sh"
SECRET = "cluster-test-secret-0123456789abcdef0123456789"
WORKERS = 3
API_REPLICAS = 2


def free_ports(count: int) -> int:
    """A port p such that p .. p+count-1 are all free."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        if first + count > 65535:
            continue
        sockets = []
        try:
            for port in range(first, first + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError(f"no {count} consecutive free ports")


@dataclass
class Cluster:
    env: dict[str, str]
    demo_dir: Path
    prefix: str
    api_port: int
    aggregator_port: int
    workers: list[str] = field(default_factory=lambda: [f"aggregator-{i}" for i in range(1, WORKERS + 1)])
    apis: list[str] = field(default_factory=lambda: [f"api-{i}" for i in range(1, API_REPLICAS + 1)])
    started_output: str = ""  # what `make up-cluster` printed

    def api_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.api_port + index}"

    async def demo(self, *args: str, timeout_s: float = 180) -> subprocess.CompletedProcess:
        process = await asyncio.create_subprocess_exec("bash", str(DEMO_SH), *args, env=self.env,
                                                       stdout=asyncio.subprocess.PIPE,
                                                       stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), timeout_s)
        return subprocess.CompletedProcess(args, process.returncode, out.decode(), err.decode())

    async def restart(self, name: str) -> float:
        """`demo.sh restart NAME` (SIGTERM, wait for the exit, start, wait until ready); its duration."""
        started = time.monotonic()
        done = await self.demo("restart", name)
        assert done.returncode == 0, f"restart {name} failed:\n{done.stderr[-3000:]}\n{self.log_tail(name)}"
        return time.monotonic() - started

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.demo_dir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


def cluster_env(stack: Stack, prefix: str, database_url: str, demo_dir: Path, api_port: int, aggregator_port: int) -> dict:
    env = dict(stack.stack_env)
    env.update(stack.env(
        FUSEBOX_DATABASE_URL=database_url,
        FUSEBOX_TOPIC_PREFIX=prefix,
        FUSEBOX_DEMO_DIR=str(demo_dir),
        FUSEBOX_API_PORT=str(api_port),
        FUSEBOX_AGGREGATOR_PORT=str(aggregator_port),
        FUSEBOX_JWT_SECRET=SECRET,
        FUSEBOX_TICK_INTERVAL_MS="200",
        FUSEBOX_DEMO_SIMULATE="off",
        FUSEBOX_DEMO_READY_DEADLINE_S="150",
        # the test's admin sends a config change every few tens of milliseconds
        FUSEBOX_API_RATE_LIMIT_BURST="10000",
        FUSEBOX_API_RATE_LIMIT_PER_MINUTE="100000",
        # and holds 50 WebSockets at once, more than one admin's default cap
        FUSEBOX_API_WS_MAX_CONNECTIONS_PER_ADMIN="1000",
    ))
    return env


@dataclass
class Output:
    at: float  # monotonic arrival time
    version: int
    state: dict


class StateFollower:
    """Every breaker-states record of the cluster's topic, per service, in log order, with arrival times."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.bootstrap = bootstrap
        self.topic = BREAKER_STATES.name(prefix)
        self.outputs: dict[str, list[Output]] = {}
        self._task: asyncio.Task | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest", fetch_max_wait_ms=50)
        await consumer.start()
        partitions = [TopicPartition(self.topic, p) for p in range(BREAKER_STATES.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        self._consumer = consumer
        self._task = asyncio.create_task(self._follow(consumer))

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=100)
            now = time.monotonic()
            for records in batches.values():
                for record in records:
                    if record.value is None:
                        continue
                    state = codec.loads(record.value)
                    self.outputs.setdefault(state["service"], []).append(Output(now, state["version"], state))

    def latest(self, service: str) -> dict | None:
        outputs = self.outputs.get(service)
        return outputs[-1].state if outputs else None

    def longest_silence(self, services, since: float, until: float) -> tuple[float, str]:
        """The longest time between two outputs of one service within [since, until], and the service."""
        worst = (0.0, "")
        for service in services:
            times = [since] + [o.at for o in self.outputs.get(service, []) if since <= o.at <= until] + [until]
            gap = max(b - a for a, b in zip(times, times[1:]))
            worst = max(worst, (gap, service))
        return worst

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()


class ReadyProxy:
    """A TCP proxy to the API replicas that answer /readyz, round robin — as a Kubernetes Service routes
    only to ready endpoints. A replica that stops, or is not ready yet, gets no new connection."""

    def __init__(self, upstreams: list[int]) -> None:
        self.upstreams = upstreams
        self.ready: list[int] = []
        self.port = 0
        self._next = 0
        self._server: asyncio.AbstractServer | None = None
        self._probe: asyncio.Task | None = None
        self._pipes: set[asyncio.Task] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self._probe = asyncio.create_task(self._probe_readiness())

    async def _probe_readiness(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as http:
            while True:
                ready = []
                for port in self.upstreams:
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                            if response.status == 200:
                                ready.append(port)
                    except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
                        pass
                self.ready = ready
                await asyncio.sleep(0.1)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = None
        for _ in range(len(self.upstreams)):
            if not self.ready:
                break
            port = self.ready[self._next % len(self.ready)]
            self._next += 1
            try:
                upstream = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                continue
        if upstream is None:
            writer.close()
            return
        up_reader, up_writer = upstream
        tasks = {asyncio.create_task(self._pipe(reader, up_writer)), asyncio.create_task(self._pipe(up_reader, writer))}
        self._pipes |= tasks
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        self._pipes -= tasks
        for w in (writer, up_writer):
            w.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()

    async def stop(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
        for task in list(self._pipes):
            task.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
