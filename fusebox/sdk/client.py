"""`FuseboxClient`: one per process. Owns the outcome buffer, the Kafka producer and the state follower.

All Kafka I/O runs on the client's own thread and event loop, so the same client serves sync code
and async code, and a slow or absent broker never slows the caller: recording an outcome is an
append to a bounded in-memory buffer.
"""
from __future__ import annotations

import asyncio
import atexit
import logging
import os
import socket
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

from fusebox.core.topics import BREAKER_STATES, CALL_OUTCOMES
from fusebox.sdk.local_breaker import Breaker, BreakerHost, ExceptionTypes, TrialGate
from fusebox.sdk.publisher import OutcomeBuffer, Sender
from fusebox.sdk.states import DISABLED, LocalState, LocalStateFollower

logger = logging.getLogger("fusebox.sdk")
_now = time.time

OUTCOMES = ("success", "failure", "timeout", "rejected")


@dataclass(frozen=True, slots=True)
class SdkStats:
    """A snapshot of the SDK's own metrics."""

    recorded: int  # outcomes accepted into the buffer
    delivered: int  # outcomes acknowledged by Kafka
    dropped: int  # outcomes dropped because the buffer was full
    buffered: int  # outcomes waiting for Kafka now (queued and in flight)
    buffer_capacity: int
    failed_sends: int  # batches that failed and were retried
    rejected: int  # calls short-circuited by an open breaker
    fail_open_calls: int  # calls let through because the state stream was not live
    state_stream: str  # "connecting" | "live" | "unavailable" | "disabled"
    producer_connected: bool
    services_known: int  # services whose breaker state this process follows
    last_error: str | None


def default_instance() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class FuseboxClient:
    """Publishes call outcomes to Fusebox and enforces breakers locally.

    >>> client = FuseboxClient(bootstrap="127.0.0.1:19092")
    >>> payments = client.breaker("payments-api", timeout=2.0)
    >>> with payments:
    ...     charge(card)
    >>> client.close()
    """

    def __init__(self, bootstrap: str | None = None, topic_prefix: str | None = None, instance: str | None = None,
                 *, buffer_size: int = 10_000, batch_size: int = 2000, linger_ms: float = 10,
                 enforce: bool = True, compression: str | None = "lz4", request_timeout_ms: int = 10_000,
                 stale_after_s: float = 3.0) -> None:
        """`bootstrap` and `topic_prefix` default to FUSEBOX_KAFKA_BOOTSTRAP and FUSEBOX_TOPIC_PREFIX
        (then 127.0.0.1:19092 and "fusebox."); `instance` to "<hostname>-<pid>". `enforce=False`
        only publishes outcomes and never reads breaker states."""
        self.bootstrap = bootstrap or os.environ.get("FUSEBOX_KAFKA_BOOTSTRAP") or "127.0.0.1:19092"
        self.topic_prefix = topic_prefix if topic_prefix is not None else os.environ.get("FUSEBOX_TOPIC_PREFIX", "fusebox.")
        self.instance = instance or default_instance()
        self.enforce = enforce
        self._buffer = OutcomeBuffer(buffer_size)
        self._append = self._buffer.append
        self._sender = Sender(self._buffer, self.bootstrap, CALL_OUTCOMES.name(self.topic_prefix),
                              batch_size=batch_size, linger_s=linger_ms / 1000, compression=compression,
                              request_timeout_ms=request_timeout_ms, client_id=f"fusebox-sdk-{self.instance}")
        self._follower = LocalStateFollower(self.bootstrap, BREAKER_STATES.name(self.topic_prefix),
                                       stale_after_s=stale_after_s, client_id=f"fusebox-sdk-{self.instance}")
        self._gates: dict[str, TrialGate] = {}
        self._gates_lock = threading.Lock()
        self._counters_lock = threading.Lock()
        self._rejected = 0
        self._fail_open_calls = 0
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._sender_done: Future[None] | None = None
        self._follower_task: asyncio.Task | None = None
        self._reported_drops = 0
        follower = self._follower
        self._breaker_host = BreakerHost(
            enforce=enforce, states=follower.states, stream_live=lambda: follower.live,
            trial_gate=self._trial_gate, emit=self._emit, append=self._append, instance=self.instance,
            count_rejected=self._count_rejected,
            count_fail_open=self._count_fail_open)
        self._thread = threading.Thread(target=self._run_loop, name="fusebox-sdk", daemon=True)
        self._thread.start()
        self._ready.wait()
        atexit.register(self._at_exit)

    # ------------------------------------------------------------ public API

    def breaker(self, service: str, *, timeout: float | None = None,
                timeout_exceptions: ExceptionTypes = (), exclude: ExceptionTypes = ()) -> Breaker:
        """The breaker of dependency `service`: use it as `with`, `async with`, or a decorator.

        `timeout` (seconds): async calls are cancelled after it, sync calls that take longer are
        recorded as `timeout`. TimeoutError and `timeout_exceptions` are recorded as `timeout`, `exclude` as
        `success` (errors that are not the dependency's fault), every other exception as `failure`.
        """
        from fusebox.core.validation import validate_service_name

        validate_service_name(service)
        return Breaker(self._breaker_host, service, timeout=timeout, timeout_exceptions=timeout_exceptions, exclude=exclude)

    def record(self, service: str, outcome: str, latency_ms: float, error: str | None = None,
               ts: int | None = None, event_id: str | None = None) -> bool:
        """Publish one outcome measured elsewhere; False when the buffer was full (counted as a drop)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        if latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        event = {"service": service, "outcome": outcome, "latencyMs": float(latency_ms),
                 "ts": int(time.time() * 1000) if ts is None else ts, "instance": self.instance,
                 "error": None if error is None else error[:4096]}
        if event_id is not None:
            event["eventId"] = event_id
        return self._append(event)

    def stats(self) -> SdkStats:
        counters = self._buffer.counters
        return SdkStats(
            recorded=counters.accepted, delivered=counters.delivered, dropped=counters.dropped,
            buffered=self._buffer.pending, buffer_capacity=self._buffer.capacity,
            failed_sends=counters.failed_sends, rejected=self._rejected, fail_open_calls=self._fail_open_calls,
            state_stream=self._follower.status if self.enforce else DISABLED,
            producer_connected=self._sender.connected, services_known=len(self._follower.states),
            last_error=counters.last_error)

    def state_of(self, service: str) -> LocalState | None:
        """The last breaker state read for `service`, or None."""
        return self._follower.states.get(service)

    def wait_until_live(self, timeout: float = 30.0) -> bool:
        """Block until the state stream has caught up (True) or `timeout` passes (False)."""
        deadline = time.monotonic() + timeout
        while not self._follower.live:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def flush(self, timeout: float = 10.0) -> bool:
        """Block until every buffered outcome is acknowledged (True) or `timeout` passes (False)."""
        deadline = time.monotonic() + timeout
        while self._buffer.pending:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Flush what is buffered (up to `timeout` seconds), then stop. Outcomes still buffered are lost."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self._at_exit)
        self._loop.call_soon_threadsafe(self._sender.close_soon)
        try:
            assert self._sender_done is not None
            self._sender_done.result(timeout)
        except Exception:  # noqa: BLE001 - a timeout here means Kafka is away; say what is lost
            lost = self._buffer.pending
            if lost:
                logger.warning("fusebox: closing with %d call outcomes undelivered", lost)
        self._loop.call_soon_threadsafe(self._stop_loop)
        self._thread.join(timeout=10)

    async def aclose(self, timeout: float = 10.0) -> None:
        """`close()` for async code: runs in an executor so the event loop is not blocked."""
        await asyncio.get_running_loop().run_in_executor(None, self.close, timeout)

    def __enter__(self) -> "FuseboxClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> "FuseboxClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------ the Breakers' host (BreakerHost)

    def _emit(self, service: str, outcome: str, latency_ms: float, error: str | None) -> None:
        # a tuple, not the CallOutcome dict: the sender builds that, off the caller's path (OutcomeBuffer)
        self._append((service, outcome, latency_ms, int(_now() * 1000), self.instance, error))

    def _count_rejected(self) -> None:
        with self._counters_lock:  # off the hot path: only refused calls get here
            self._rejected += 1

    def _count_fail_open(self) -> None:
        with self._counters_lock:  # off the hot path: only while the state stream is down
            self._fail_open_calls += 1

    def _trial_gate(self, service: str) -> TrialGate:
        with self._gates_lock:
            gate = self._gates.get(service)
            if gate is None:
                gate = self._gates[service] = TrialGate()
            return gate

    # ------------------------------------------------------------ the SDK's thread

    def _run_loop(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        sender_task = loop.create_task(self._sender.run(), name="fusebox-sdk-sender")
        self._sender_done = Future()
        sender_task.add_done_callback(self._sender_finished)
        if self.enforce:
            self._follower_task = loop.create_task(self._follower.run(), name="fusebox-sdk-states")
        loop.create_task(self._report_drops(), name="fusebox-sdk-drops")
        loop.call_soon(self._ready.set)
        try:
            loop.run_forever()
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def _sender_finished(self, task: asyncio.Task) -> None:
        assert self._sender_done is not None
        if task.cancelled():
            self._sender_done.cancel()
        elif task.exception() is not None:
            logger.error("fusebox: the outcome sender stopped: %r", task.exception())
            self._sender_done.set_exception(task.exception())  # type: ignore[arg-type]
        else:
            self._sender_done.set_result(None)

    def _stop_loop(self) -> None:
        self._loop.stop()

    async def _report_drops(self) -> None:
        while True:
            await asyncio.sleep(10)
            dropped = self._buffer.counters.dropped
            if dropped > self._reported_drops:
                logger.warning("fusebox: %d call outcomes dropped (buffer of %d full; %d dropped in total)",
                               dropped - self._reported_drops, self._buffer.capacity, dropped)
                self._reported_drops = dropped

    def _at_exit(self) -> None:
        self.close(timeout=2.0)

    def __repr__(self) -> str:
        return f"FuseboxClient(bootstrap={self.bootstrap!r}, topic_prefix={self.topic_prefix!r}, instance={self.instance!r})"

