"""Running aggregator workers as subprocesses and reading what they publish."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from aiokafka import AIOKafkaProducer

from fusebox.core.codec import dumps, loads
from fusebox.topic_reader import read_from_start
from tests.harness import Stack, free_port


class ManagedProcess:
    """A `fusebox` process of a test, in a session of its own, with its output in `log_path`."""

    process: subprocess.Popen | None
    log_path: Path

    def kill(self) -> None:
        """kill -9: no shutdown, no flush."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


class Worker(ManagedProcess):
    """One `fusebox aggregator` process with its output in a log file."""

    def __init__(self, stack: Stack, prefix: str, database_url: str, workdir: Path, app_id: str | None = None,
                 command_prefix: tuple[str, ...] = (), **env: str) -> None:
        self.log_path = workdir / f"aggregator-{uuid.uuid4().hex[:6]}.log"
        self.port = free_port()
        data_dir = workdir / f"data-{uuid.uuid4().hex[:6]}"
        self.env = stack.env(
            FUSEBOX_TOPIC_PREFIX=prefix,
            FUSEBOX_DATABASE_URL=database_url,
            FUSEBOX_AGGREGATOR_PORT=str(self.port),
            FUSEBOX_AGGREGATOR_APP_ID=app_id or f"{prefix}aggregator",
            FUSEBOX_AGGREGATOR_DATA_DIR=str(data_dir),
            FUSEBOX_TICK_INTERVAL_MS="200",
            **env,
        )
        self.command_prefix = command_prefix  # e.g. ("ip", "netns", "exec", name): run it elsewhere
        self.process: subprocess.Popen | None = None

    def start(self) -> "Worker":
        log = open(self.log_path, "ab")
        loglevel = os.environ.get("FUSEBOX_TEST_WORKER_LOGLEVEL", "warn")
        self.process = subprocess.Popen([*self.command_prefix, sys.executable, "-m", "fusebox.cli", "aggregator",
                                         "--loglevel", loglevel],
                                        env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        return self



async def wait_for(condition: Callable[[], Awaitable[bool]], timeout: float, what: str,
                   every: float = 0.3, worker: "Worker | None" = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if await condition():
            return
        if time.monotonic() > deadline:
            log = f"\n--- worker log ---\n{worker.log()}" if worker is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{log}")
        await asyncio.sleep(every)


def outcome(service: str, outcome_kind: str = "success", ts: int | None = None, latency: float = 5.0) -> dict:
    return {"service": service, "outcome": outcome_kind, "latencyMs": latency,
            "ts": ts if ts is not None else int(time.time() * 1000), "eventId": str(uuid.uuid4()),
            "instance": "test-1", "error": None if outcome_kind == "success" else "boom"}


def command(service: str, kind: str, payload: dict, issued_at: int | None = None) -> dict:
    return {"commandId": str(uuid.uuid4()), "service": service, "type": kind,
            "issuedAt": issued_at if issued_at is not None else int(time.time() * 1000),
            "issuedBy": "tester", "payload": payload}


class Producer:
    def __init__(self, stack: Stack, prefix: str) -> None:
        self.bootstrap = stack.kafka_bootstrap
        self.prefix = prefix
        self._producer: AIOKafkaProducer | None = None

    async def __aenter__(self) -> "Producer":
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True,
                                          linger_ms=10, max_batch_size=512 * 1024)
        await self._producer.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self._producer.stop()

    async def outcomes(self, events: Iterable[dict]) -> int:
        return await self.raw("call-outcomes", ((e["service"], dumps(e)) for e in events))

    async def commands(self, commands: Iterable[dict]) -> int:
        return await self.raw("breaker-commands", ((c["service"], dumps(c)) for c in commands))

    async def raw(self, suffix: str, pairs: Iterable[tuple[str | bytes | None, bytes | None]]) -> int:
        """Records as given (a key may be bytes or missing, a value missing: a tombstone)."""
        topic = self.prefix + suffix
        futures = []
        for key, value in pairs:
            futures.append(await self._producer.send(topic, key=key.encode() if isinstance(key, str) else key,
                                                     value=value))
            if len(futures) >= 20000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
        return len(futures)


async def read_topic(stack: Stack, topic: str) -> list:
    """Every record of a topic from the beginning to its current end."""
    return [record async for record in read_from_start(stack.kafka_bootstrap, topic)]


async def latest_states(stack: Stack, prefix: str) -> dict[str, dict]:
    states: dict[str, dict] = {}
    for record in await read_topic(stack, prefix + "breaker-states"):
        if record.value is None:
            states.pop(record.key.decode(), None)
        else:
            state = loads(record.value)
            current = states.get(state["service"])
            if current is None or current["version"] <= state["version"]:
                states[state["service"]] = state
    return states
