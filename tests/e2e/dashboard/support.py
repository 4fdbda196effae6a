"""The dashboard's end-to-end helpers: `fusebox api` as a process of its own, Debian's Chromium, tokens, outcomes."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from fusebox.auth import mint_token
from fusebox.core import codec
from tests.harness import ROOT, Stack, free_port

SECRET = "dashboard-e2e-secret-0123456789abcdef012345"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--no-first-run"]
SCREENSHOTS = ROOT / ".run" / "screenshots"
BASE = "/api/admin/circuit-breaker"


def token(sub: str = "operator", roles: tuple[str, ...] = ("admin",), ttl_s: int = 3600) -> str:
    return mint_token(SECRET, sub, list(roles), ttl_s)


class ApiProcess:
    """One `fusebox api` on a fixed port, so a restart comes back at the same address."""

    def __init__(self, stack: Stack, prefix: str, database_url: str, workdir: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"api-{self.port}.log"
        self.env = stack.env(FUSEBOX_TOPIC_PREFIX=prefix, FUSEBOX_DATABASE_URL=database_url,
                             FUSEBOX_JWT_SECRET=SECRET, FUSEBOX_API_PORT=str(self.port), **env)
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 90) -> "ApiProcess":
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "fusebox.cli", "api"], env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            if self.process.poll() is not None:
                raise AssertionError(f"fusebox api exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"fusebox api not ready after {timeout_s}s:\n{self.log()}")
            time.sleep(0.2)
        return self

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        """SIGTERM: the graceful shutdown that tells WebSocket clients it is going."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


class StateWatcher:
    """Follows breaker-states from its end and remembers when each record reached the topic."""

    def __init__(self, stack: Stack, prefix: str) -> None:
        self.consumer = AIOKafkaConsumer(f"{prefix}breaker-states", bootstrap_servers=stack.kafka_bootstrap,
                                         group_id=None, auto_offset_reset="latest", enable_auto_commit=False)

    async def __aenter__(self) -> "StateWatcher":
        await self.consumer.start()
        for partition in self.consumer.assignment():
            await self.consumer.position(partition)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.consumer.stop()

    async def first(self, predicate, timeout_s: float = 60) -> tuple[dict, int]:
        """The first new state for which `predicate` holds, and its record timestamp (epoch ms)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batches = await self.consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    if record.value is None:
                        continue
                    state = codec.loads(record.value)
                    if predicate(state):
                        return state, record.timestamp
        raise AssertionError(f"no state on breaker-states matched within {timeout_s}s")


class BreakableLink:
    """A TCP relay between the browser and `fusebox api`: `cut()` drops every connection through it and refuses
    new ones until `mend()`, while the API process keeps running: the browser's side of a network failure."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.url = ""
        self.down = False
        self._server: asyncio.AbstractServer | None = None
        self._transports: set[asyncio.BaseTransport] = set()

    async def __aenter__(self) -> "BreakableLink":
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    async def __aexit__(self, *exc) -> None:
        self.cut()
        self._server.close()
        await self._server.wait_closed()

    def cut(self) -> None:
        self.down = True
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()

    def mend(self) -> None:
        self.down = False

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._transports.update((writer.transport, upstream_writer.transport))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while chunk := await source.read(65536):
                    sink.write(chunk)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        self._transports.discard(writer.transport)
        self._transports.discard(upstream_writer.transport)
