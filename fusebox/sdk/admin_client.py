"""A Python admin client for the gateway's WebSocket: resume, heartbeats, and reconnection with backoff.

Reconnection: after a drop, attempt n (1..max_attempts) waits `backoff_delay(n)` — exponential from `base_delay_s`,
capped at `max_delay_s`, with jitter — then connects with `reconnectAttempts=n`, `sessionId` and `lastSeq`, so the
server replays what was missed. A successful connect resets the count; after `max_attempts` failures it gives up.
Every change of connection is reported to the user as a `connection:status` event.

`services` holds the latest state of every service as this client has seen it. Resume is per gateway process: a
reconnect that lands on another replica, or on a restarted one, is answered with `"resumed": false` and a fresh
snapshot, and the client then replaces everything it held with that snapshot.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

import aiohttp

from fusebox.core import codec
from fusebox.core.isotime import iso_ms

logger = logging.getLogger("fusebox.sdk.admin_client")

Handler = Callable[[dict], "Awaitable[None] | None"]


def backoff_delay(attempt: int, *, base_delay_s: float = 0.5, max_delay_s: float = 15.0, jitter: float = 0.5,
                  rng: random.Random | None = None) -> float:
    """Delay before reconnection attempt `attempt` (1-based): base·2^(attempt-1), capped, minus up to `jitter` of it."""
    ceiling = min(max_delay_s, base_delay_s * 2 ** (attempt - 1))
    return ceiling * (1 - jitter * (rng or random).random())


def _now_iso() -> str:
    return iso_ms(int(time.time() * 1000))


class AdminClient:
    def __init__(self, url: str, token: str, on_event: Handler, *, max_attempts: int = 5,
                 base_delay_s: float = 0.5, max_delay_s: float = 15.0, jitter: float = 0.5,
                 rng: random.Random | None = None, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 session: aiohttp.ClientSession | None = None):
        self.url = url
        self.token = token
        self.on_event = on_event
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.jitter = jitter
        self.rng = rng or random.Random()
        self.sleep = sleep
        self.session_id: str | None = None
        self.last_seq: int | None = None
        self.delays: list[float] = []
        self.services: dict[str, dict] = {}
        self.rtt_ms: float | None = None
        self._session = session
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._stopped = False

    async def run(self) -> bool:
        """Stay connected until `stop()` (True) or until `max_attempts` reconnections in a row failed (False)."""
        own_session = self._session is None
        session = self._session or aiohttp.ClientSession()
        attempts = 0
        try:
            while not self._stopped:
                if attempts:
                    delay = backoff_delay(attempts, base_delay_s=self.base_delay_s, max_delay_s=self.max_delay_s,
                                          jitter=self.jitter, rng=self.rng)
                    self.delays.append(delay)
                    await self._emit_status("reconnecting", attempts, delay=delay)
                    await self.sleep(delay)
                try:
                    async with session.ws_connect(self._connect_url(attempts), heartbeat=None,
                                                  headers={"Authorization": f"Bearer {self.token}"}) as ws:
                        self._ws = ws
                        attempts = 0
                        await self._receive(ws)
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                    logger.info("admin WebSocket connection failed: %r", exc)
                finally:
                    self._ws = None
                if self._stopped:
                    break
                attempts += 1
                await self._emit_status("disconnected", attempts - 1)
                if attempts > self.max_attempts:
                    await self._emit_status("disconnected", self.max_attempts, gaveUp=True)
                    return False
            return True
        finally:
            if own_session:
                await session.close()

    async def stop(self) -> None:
        self._stopped = True
        if self._ws is not None:
            await self._ws.close()

    async def ping(self) -> None:
        """Send a client ping; the server's pong (with the same timestamp) sets `rtt_ms`."""
        if self._ws is not None:
            await self._ws.send_str(codec.dumps({"type": "ping", "timestamp": int(time.time() * 1000)}).decode())

    def _connect_url(self, attempts: int) -> str:
        params: dict[str, str | int] = {"reconnectAttempts": attempts}
        if self.session_id is not None and self.last_seq is not None:
            params.update(sessionId=self.session_id, lastSeq=self.last_seq)
        return f"{self.url}?{urlencode(params)}"

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            body = codec.loads(message.data)
            kind = body.get("type")
            if kind == "ping":
                await ws.send_str(codec.dumps({"type": "pong", "timestamp": body.get("timestamp")}).decode())
                continue
            if kind == "pong" and isinstance(body.get("timestamp"), int):
                self.rtt_ms = time.time() * 1000 - body["timestamp"]
                continue
            if kind == "connection:status" and body.get("sessionId"):
                self.session_id = body["sessionId"]
                if not body.get("resumed"):
                    self.services.clear()  # the snapshot that follows is the whole state
                    if isinstance(body.get("seq"), int):
                        self.last_seq = body["seq"]
            elif kind == "service:update":
                self.services[body["service"]] = body["data"]
            elif kind == "service:remove":
                self.services.pop(body["service"], None)
            if isinstance(body.get("seq"), int) and kind != "connection:status":
                self.last_seq = max(self.last_seq or 0, body["seq"])
            await self._deliver(body)

    async def _emit_status(self, status: str, attempts: int, **extra) -> None:
        await self._deliver({"type": "connection:status", "status": status, "timestamp": _now_iso(),
                             "reconnectAttempts": attempts, **extra})

    async def _deliver(self, event: dict) -> None:
        result = self.on_event(event)
        if asyncio.iscoroutine(result):
            await result
