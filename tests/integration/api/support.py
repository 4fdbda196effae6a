"""Helpers for the gateway's tests: a gateway on a free port, tokens, and records produced to the per-test topics."""
from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from fusebox.api import keys
from fusebox.api.access_log import ACCESS_LOGGER, AccessLog
from fusebox.api.app import init_app
from fusebox.api.settings import ApiSettings
from fusebox.auth import mint_token
from fusebox.core import codec
from fusebox.core.breaker import new_state, to_service_state
from fusebox.core.topics import BREAKER_COMMANDS, BREAKER_STATES, COMMAND_RESULTS

SECRET = "test-secret-0123456789abcdef0123456789abcdef"
BASE = "/api/admin/circuit-breaker"


def admin_token(sub: str = "alice", roles=("admin",), ttl_s: int = 600, secret: str = SECRET) -> str:
    return mint_token(secret, sub, list(roles), ttl_s)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ws_protocols(token: str | None) -> tuple[str, ...]:
    """The subprotocols a browser offers: `fusebox.v1`, and the token as `bearer.<jwt>`."""
    return ("fusebox.v1",) if token is None else ("fusebox.v1", f"bearer.{token}")


def open_ws(http: aiohttp.ClientSession, url: str, token: str | None = None, **options):
    """`http.ws_connect` as the dashboard connects: credentials in the subprotocols, never in the URL."""
    return http.ws_connect(url, protocols=ws_protocols(token if token is not None else admin_token("alice")),
                           **options)


def iso_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def service_state(service: str, **changes) -> dict:
    """A contract-shaped ServiceState; `circuit`, `operations` and `config` changes merge into their objects."""
    state = to_service_state(new_state(service))
    state["updatedAt"] = iso_now()
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(state.get(key), dict):
            state[key] = {**state[key], **value}
        else:
            state[key] = value
    return state


async def wait_for(condition: Callable[[], Awaitable[bool] | bool], timeout_s: float = 15.0,
                   interval_s: float = 0.05, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(interval_s)


def gateway_settings(stack, prefix: str, database_url: str, **changes) -> ApiSettings:
    settings = ApiSettings(kafka_bootstrap=stack.kafka_bootstrap, database_url=database_url,
                           redis_url=stack.redis_url, topic_prefix=prefix, jwt_secret=SECRET,
                           heartbeat_ms=5000, command_timeout_ms=3000, kafka_send_timeout_ms=3000,
                           ws_batch_ms=100, breaker_reset_timeout_ms=2000)
    return settings.with_(**changes)


@dataclass
class Gateway:
    app: web.Application
    server: TestServer

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/api/admin/ws"

    @property
    def view(self):
        return self.app[keys.VIEW]

    @property
    def metrics(self):
        return self.app[keys.METRICS]


@contextlib.asynccontextmanager
async def running_gateway(settings: ApiSettings, **init_options) -> AsyncIterator[Gateway]:
    """A gateway served on a free port, yielded once its views of Kafka are ready."""
    app = init_app(settings, **init_options)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(access_log=ACCESS_LOGGER, access_log_class=AccessLog)
    gateway = Gateway(app, server)
    try:
        await wait_for(lambda: app[keys.VIEW].caught_up.is_set() and app[keys.COMMAND_BUS].results_ready.is_set(),
                       timeout_s=30, what="the gateway's Kafka views")
        yield gateway
    finally:
        await server.close()


class Topics:
    """Produces ServiceState and CommandResult records onto a test's own topics, as the aggregator would."""

    def __init__(self, bootstrap: str, prefix: str):
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def publish_state(self, state: dict) -> None:
        await self.producer.send_and_wait(BREAKER_STATES.name(self.prefix), key=state["service"].encode(),
                                          value=codec.dumps(state))

    async def publish_states(self, states: list[dict]) -> None:
        futures = [await self.producer.send(BREAKER_STATES.name(self.prefix), key=s["service"].encode(),
                                            value=codec.dumps(s)) for s in states]
        await asyncio.gather(*futures)

    async def remove_service(self, service: str) -> None:
        await self.producer.send_and_wait(BREAKER_STATES.name(self.prefix), key=service.encode(), value=None)

    async def publish_result(self, result: dict) -> None:
        await self.producer.send_and_wait(COMMAND_RESULTS.name(self.prefix), key=result["service"].encode(),
                                          value=codec.dumps(result))

    async def read_commands(self, expected: int, timeout_s: float = 20.0) -> list[dict]:
        """Every command on breaker-commands, once at least `expected` are there."""
        consumer = AIOKafkaConsumer(BREAKER_COMMANDS.name(self.prefix), bootstrap_servers=self.bootstrap,
                                    group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        commands: list[dict] = []
        try:
            deadline = time.monotonic() + timeout_s
            while len(commands) < expected and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=200)
                for records in batches.values():
                    commands += [codec.loads(r.value) for r in records]
            return commands
        finally:
            await consumer.stop()


class FakeAggregator:
    """Answers breaker-commands as the aggregator's contract says, from states kept here; for gateway-only tests."""

    def __init__(self, topics: Topics, *, answer: bool = True):
        self.topics = topics
        self.answer = answer
        self.states: dict[str, dict] = {}
        self.commands: list[dict] = []
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> "FakeAggregator":
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._run(ready))
        await asyncio.wait_for(ready.wait(), 30)
        return self

    async def __aexit__(self, *exc) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def seed(self, state: dict) -> None:
        self.states[state["service"]] = state
        await self.topics.publish_state(state)

    async def _run(self, ready: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(BREAKER_COMMANDS.name(self.topics.prefix), bootstrap_servers=self.topics.bootstrap,
                                    group_id=None, auto_offset_reset="latest", enable_auto_commit=False)
        await consumer.start()
        try:
            await consumer.topics()
            while not consumer.assignment():
                await asyncio.sleep(0.05)
            for tp in consumer.assignment():
                await consumer.position(tp)
            ready.set()
            async for record in consumer:
                command = codec.loads(record.value)
                self.commands.append(command)
                if self.answer:
                    await self._apply(command)
        finally:
            await consumer.stop()

    async def _apply(self, command: dict) -> None:
        service = command["service"]
        state = self.states.get(service) or service_state(service)
        applied_at = datetime.fromtimestamp(command["issuedAt"] / 1000, tz=timezone.utc)
        applied_iso = applied_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if command["type"] == "config.update":
            config = {"requestLimit": None, **command["payload"]}
            state = {**state, "config": config, "version": state["version"] + 1, "updatedAt": applied_iso}
            result = {"config": config}
        else:
            circuit = state["circuit"]
            previous = {k: circuit[k] for k in ("failureCount", "lastFailure", "totalIncidents")}
            state = {**state, "status": "degraded", "version": state["version"] + 1, "updatedAt": applied_iso,
                     "circuit": {**circuit, "state": "closed", "failureCount": 0, "lastFailure": None,
                                 "recoveryAttempts": 0, "openedAt": None}}
            result = {"previousState": previous, "state": state}
        self.states[service] = state
        await self.topics.publish_state(state)
        await self.topics.publish_result({"commandId": command["commandId"], "service": service,
                                          "type": command["type"], "ok": True, "appliedAt": applied_iso,
                                          "result": result})


async def ws_messages(ws: aiohttp.ClientWebSocketResponse, count: int, timeout_s: float = 10.0,
                      skip_pings: bool = True) -> list[dict]:
    """The next `count` JSON messages (server pings skipped unless asked for)."""
    messages: list[dict] = []
    deadline = time.monotonic() + timeout_s
    while len(messages) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"got {len(messages)} of {count} messages: {messages[-3:]}")
        message = await ws.receive(timeout=remaining)
        if message.type != aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"socket ended: {message.type} {message.data} {message.extra}")
        body = codec.loads(message.data)
        if skip_pings and body.get("type") == "ping":
            continue
        messages.append(body)
    return messages


def new_service_name() -> str:
    return f"svc-{uuid.uuid4().hex[:8]}"
