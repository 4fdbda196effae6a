"""The admin WebSocket hub (docs/api.md): snapshot, coalesced `service:update` batches with `seq`, heartbeats, resume.

Every change the state view reports is coalesced per service and flushed as one batch to every client, at most
every `batch_s`, or at once when a circuit changes state. A state whose `lastTransition` is new is preceded by a
`service:transition` message carrying it (docs/trip-rules.md). Each pushed message gets the next hub `seq` and is kept
in a bounded buffer, so a client reconnecting with its `sessionId` and `lastSeq` gets exactly what it missed.

The fan-out does per flush what it can once: each message is encoded once, the WebSocket frames of the whole flush
are built once (plain frames, and one `service:batch` frame for the clients that asked for it with
`?frames=batch`), and a client with nothing pending gets them in one write to its socket, from the flusher itself:
no task wakes up per client. A client with something still pending (its snapshot, or a socket the peer reads
slowly) queues instead; its own writer task drains that queue. What one client has not taken yet (its queue plus
its socket's unsent bytes) is bounded in bytes: one that cannot keep up is dropped, and nobody else waits for it.
"""
from __future__ import annotations

import asyncio
import logging
import struct
import time
import uuid
from collections import OrderedDict, deque

from aiohttp import WSMsgType, web

from fusebox.api.metrics import ApiMetrics
from fusebox.api.state_view import StateView
from fusebox.core import codec
from fusebox.core.isotime import iso_ms

logger = logging.getLogger("fusebox.api.ws")

CLOSE_GOING_AWAY = 1001
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_TOO_SLOW = 4008
CLOSE_HEARTBEAT_MISSED = 4009
MAX_SESSIONS = 100_000


def now_iso() -> str:
    return iso_ms(int(time.time() * 1000))


def ws_text_frame(payload: bytes) -> bytes:
    """`payload` as one final, unmasked, uncompressed TEXT frame (RFC 6455 section 5.2), as a server sends it.

    aiohttp frames one message per write call; the fan-out frames each message once for every client and writes a
    flush in one call. Uncompressed frames are valid on a socket that negotiated permessage-deflate (RFC 7692
    section 6: RSV1 clear means not compressed) and leave its compression context untouched.
    """
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", 0x81, n) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


def _int_param(raw: str | None) -> int | None:
    if raw is None or not (raw.isascii() and raw.isdigit()) or len(raw) > 15:
        return None
    return int(raw)


class WsClient:
    """One connected socket: written at once while nothing is pending, else a byte-bounded queue drained by its
    own writer task. `batch`: the client asked for `service:batch` frames."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, session_id: str, max_pending_bytes: int,
                 *, batch: bool = False):
        self.ws = ws
        self.request = request
        self.session_id = session_id
        self.max_pending_bytes = max_pending_bytes
        self.batch = batch
        self._writing = False
        self.unanswered_pings = 0
        self.pings_sent: dict[int, float] = {}
        self._queue: deque[bytes] = deque()
        self._pending_bytes = 0
        self._wakeup = asyncio.Event()
        self._close_request: tuple[int, bytes] | None = None
        self.closing = False
        self.writer: asyncio.Task | None = None

    def push(self, frames: list[bytes], *, force: bool = False, wire: bytes | None = None) -> bool:
        """Send or queue messages; False when the client is too far behind (what it had not taken yet was not
        nothing and is now over the bound). `wire`: the same messages already framed (ws_text_frame), to be written
        as they are when nothing is pending."""
        if self.closing:
            return True
        if wire is not None and not self._queue and not self._writing:
            transport = self.request.transport if self.request is not None else None
            if transport is not None and not transport.is_closing():
                unsent = transport.get_write_buffer_size()
                transport.write(wire)
                return force or unsent == 0 or unsent + len(wire) <= self.max_pending_bytes
        was_empty = not self._queue
        self._queue.extend(frames)
        self._pending_bytes += sum(len(f) for f in frames)
        self._wakeup.set()
        return force or was_empty or self._pending_bytes <= self.max_pending_bytes

    def close(self, code: int, message: str, *, drain: bool) -> None:
        """Ask the writer to close the socket, after what is queued when `drain`, else at once."""
        if self.closing:
            return
        self.closing = True
        if not drain:
            self._queue.clear()
            self._pending_bytes = 0
        self._close_request = (code, message.encode("utf-8"))
        self._wakeup.set()

    async def write_loop(self, close_timeout_s: float = 2.0) -> None:
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                # while a frame is being sent (it may wait for compression, or for the socket to drain), new
                # messages queue behind it rather than being written ahead of it
                self._writing = True
                while self._queue:
                    frame = self._queue.popleft()
                    self._pending_bytes -= len(frame)
                    await self.ws.send_frame(frame, WSMsgType.TEXT)
                self._writing = False
                if self._close_request is not None:
                    code, message = self._close_request
                    try:
                        await asyncio.wait_for(self.ws.close(code=code, message=message), close_timeout_s)
                    except asyncio.TimeoutError:
                        self._abort()
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away mid-write
            logger.debug("writer for session %s ended: %r", self.session_id, exc)
            self._abort()

    def _abort(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.abort()


class WsHub:
    def __init__(self, view: StateView, metrics: ApiMetrics, *, heartbeat_s: float, heartbeat_misses: int,
                 batch_s: float, max_pending_bytes: int, resume_buffer: int):
        self.view = view
        self.metrics = metrics
        self.heartbeat_s = heartbeat_s
        self.heartbeat_misses = heartbeat_misses
        self.batch_s = batch_s
        self.max_pending_bytes = max_pending_bytes
        self.seq = 0
        self.clients: set[WsClient] = set()
        self._buffer: deque[tuple[int, bytes]] = deque(maxlen=resume_buffer)
        self._latest: dict[str, bytes] = {}
        self._circuit_states: dict[str, str | None] = {}
        self._transition_seqs: dict[str, int | None] = {}  # per service, the seq of the last transition pushed
        self._pending: dict[str, dict | None] = {}
        self._dirty = asyncio.Event()
        self._urgent = asyncio.Event()
        self._sessions: OrderedDict[str, None] = OrderedDict()

    # --- changes in, batches out -------------------------------------------------------------------------------

    def on_change(self, service: str, state: dict | None) -> None:
        """StateView listener: remember the latest state; a circuit-state change asks for an immediate flush."""
        self._pending[service] = state
        circuit_state = _circuit_state(state)
        if self._circuit_states.get(service) != circuit_state:
            self._urgent.set()
        self._dirty.set()

    async def run_flusher(self) -> None:
        while True:
            await self._dirty.wait()
            if not self._urgent.is_set():
                try:
                    await asyncio.wait_for(self._urgent.wait(), self.batch_s)
                except asyncio.TimeoutError:
                    pass
            self.flush()

    def flush(self) -> None:
        self._dirty.clear()
        self._urgent.clear()
        pending, self._pending = self._pending, {}
        frames = []
        for service, state in pending.items():
            self.seq += 1
            if state is None:
                frame = codec.dumps({"type": "service:remove", "service": service, "seq": self.seq})
                self._latest.pop(service, None)
                self._circuit_states.pop(service, None)
                self._transition_seqs.pop(service, None)
            else:
                transition = state.get("lastTransition")
                if transition is not None and self._transition_seqs.get(service) != transition.get("seq"):
                    # The first sight of a service's state carries its last transition as news only
                    # when the hub saw the service before: a snapshot is no news.
                    if service in self._transition_seqs:
                        moved = codec.dumps({"type": "service:transition", "service": service, "seq": self.seq,
                                             "data": transition})
                        self._buffer.append((self.seq, moved))
                        frames.append(moved)
                        self.seq += 1
                    self._transition_seqs[service] = transition.get("seq")
                elif service not in self._transition_seqs:
                    self._transition_seqs[service] = None
                frame = codec.dumps({"type": "service:update", "service": service, "seq": self.seq, "data": state})
                self._latest[service] = frame
                self._circuit_states[service] = _circuit_state(state)
            self._buffer.append((self.seq, frame))
            frames.append(frame)
        if not frames:
            return
        plain_wire = b"".join(ws_text_frame(frame) for frame in frames)
        batch_frames: list[bytes] | None = None
        batch_wire = b""
        pushed = 0
        for client in list(self.clients):
            if client.batch:
                if batch_frames is None:
                    batch = b'{"type":"service:batch","seq":%d,"messages":[%b]}' % (self.seq, b",".join(frames))
                    batch_frames = [batch]
                    batch_wire = ws_text_frame(batch_frames[0])
                accepted = client.push(batch_frames, wire=batch_wire)
            else:
                accepted = client.push(frames, wire=plain_wire)
            if accepted:
                pushed += len(frames)
            else:
                self.drop(client, CLOSE_TOO_SLOW, "client too slow", reason="slow")
        if pushed:
            self.metrics.ws_messages_pushed.inc(pushed)

    # --- heartbeat ------------------------------------------------------------------------------------------------

    async def run_heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            self.beat()

    def beat(self) -> None:
        timestamp = int(time.time() * 1000)
        frame = codec.dumps({"type": "ping", "timestamp": timestamp})
        wire = ws_text_frame(frame)
        sent_at = time.monotonic()
        for client in list(self.clients):
            if client.unanswered_pings >= self.heartbeat_misses:
                self.drop(client, CLOSE_HEARTBEAT_MISSED, "heartbeat missed", reason="heartbeat")
                continue
            client.unanswered_pings += 1
            client.pings_sent[timestamp] = sent_at
            if len(client.pings_sent) > 8:
                client.pings_sent.pop(next(iter(client.pings_sent)))
            client.push([frame], force=True, wire=wire)

    # --- connections ----------------------------------------------------------------------------------------------

    def connect(self, ws: web.WebSocketResponse, request: web.Request) -> WsClient:
        """Register a socket: `connection:status`, then what it missed (resume) or a snapshot of every service."""
        query = request.query
        session_id = query.get("sessionId")
        last_seq = _int_param(query.get("lastSeq"))
        known = session_id is not None and session_id in self._sessions
        replay = self._replay_after(last_seq) if known and last_seq is not None else None
        if not known:
            session_id = uuid.uuid4().hex
        self._remember(session_id)
        body = replay if replay is not None else list(self._latest.values())
        status = {"type": "connection:status", "status": "connected", "timestamp": now_iso(),
                  "reconnectAttempts": _int_param(query.get("reconnectAttempts")) or 0,
                  "sessionId": session_id, "seq": self.seq, "resumed": replay is not None,
                  "snapshotSize" if replay is None else "replayed": len(body)}
        client = WsClient(ws, request, session_id, self.max_pending_bytes, batch=query.get("frames") == "batch")
        client.push([codec.dumps(status), *body], force=True)
        client.writer = asyncio.create_task(client.write_loop(), name=f"ws-writer-{session_id}")
        self.clients.add(client)
        self.metrics.ws_connections.set(len(self.clients))
        if body:
            self.metrics.ws_messages_pushed.inc(len(body))
        return client

    def _replay_after(self, last_seq: int) -> list[bytes] | None:
        if last_seq > self.seq:
            return None
        if last_seq == self.seq:
            return []
        if not self._buffer or self._buffer[0][0] > last_seq + 1:
            return None
        return [frame for seq, frame in self._buffer if seq > last_seq]

    def _remember(self, session_id: str) -> None:
        self._sessions[session_id] = None
        self._sessions.move_to_end(session_id)
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)

    def receive(self, client: WsClient, text: str) -> None:
        """A client's message: `ping` is answered with `pong`; `pong` completes a heartbeat; anything else is ignored.

        A timestamp must be a number: it is echoed, and an arbitrary JSON value there (one nested deeper than the
        encoder writes, say) would fail to encode. The echo goes through the client's bounded queue like every other
        message, so a client that floods pings without reading is dropped as too slow.
        """
        try:
            message = codec.loads(text)
        except codec.DecodeError:
            return
        if not isinstance(message, dict):
            return
        kind, timestamp = message.get("type"), message.get("timestamp")
        if not _is_number(timestamp):
            return
        if kind == "ping":
            if not client.push([codec.dumps({"type": "pong", "timestamp": timestamp})]):
                self.drop(client, CLOSE_TOO_SLOW, "client too slow", reason="slow")
        elif kind == "pong" and isinstance(timestamp, int):
            sent_at = client.pings_sent.pop(timestamp, None)
            if sent_at is not None:
                rtt = time.monotonic() - sent_at
                client.unanswered_pings = 0
                self.metrics.ws_pong_rtt.observe(rtt)

    def drop(self, client: WsClient, code: int, message: str, *, reason: str) -> None:
        if client in self.clients:
            logger.info("dropping WebSocket session %s: %s", client.session_id, message)
            self.metrics.ws_dropped_clients.labels(reason=reason).inc()
            self.disconnect(client)
        client.close(code, message, drain=False)

    def disconnect(self, client: WsClient) -> None:
        self.clients.discard(client)
        self.metrics.ws_connections.set(len(self.clients))

    async def shutdown(self, timeout_s: float = 3.0) -> None:
        """Tell every client `disconnected`, then close each with 1001 (going away)."""
        frame = codec.dumps({"type": "connection:status", "status": "disconnected", "timestamp": now_iso()})
        writers = []
        for client in list(self.clients):
            client.push([frame], force=True)
            client.close(CLOSE_GOING_AWAY, "server shutting down", drain=True)
            if client.writer is not None:
                writers.append(client.writer)
        if writers:
            await asyncio.wait(writers, timeout=timeout_s)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _circuit_state(state: dict | None) -> str | None:
    circuit = state.get("circuit") if isinstance(state, dict) else None
    return circuit.get("state") if isinstance(circuit, dict) else None
