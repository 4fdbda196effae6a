"""`Breaker`: wraps calls to one dependency, times and classifies them, and enforces its breaker locally.

Admission of a call, from the last state the SDK read from `breaker-states`:

    state stream not live ........................ pass (fail open; counted in stats.fail_open_calls)
    closed, or service unknown ................... pass
    open, before openedAt + resetTimeoutMs ....... reject: BreakerOpenError, a `rejected` outcome
    half-open, or open past its reset timeout .... a trial: at most requestLimit at once per instance,
                                                   the others rejected

Classification of a finished call (first match wins):

    no exception ............................. success (timeout, if it took longer than `timeout`)
    an `exclude` exception ................... success (a business error, not the dependency's fault)
    TimeoutError, or a `timeout_exceptions` one .. timeout
    any other Exception ...................... failure
    cancellation, KeyboardInterrupt, ... ..... not recorded (the caller gave up, not the dependency)
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, overload

from fusebox.sdk.states import LocalState

P = ParamSpec("P")
R = TypeVar("R")

ExceptionTypes = tuple[type[BaseException], ...]


class BreakerOpenError(Exception):
    """Raised at once, without calling the dependency, while its breaker is open (or its trials are taken)."""

    def __init__(self, service: str, state: str, retry_after_s: float | None) -> None:
        hint = f"; retry in {retry_after_s:.1f}s" if retry_after_s is not None else ""
        super().__init__(f"the breaker of {service!r} is {state}{hint}")
        self.service = service
        self.state = state
        self.retry_after_s = retry_after_s


class TrialGate:
    """Per service and instance: how many half-open trial calls are running."""

    __slots__ = ("_lock", "running")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running = 0

    def try_enter(self, limit: int) -> bool:
        with self._lock:
            if self.running >= limit:
                return False
            self.running += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.running -= 1


@dataclass(frozen=True, slots=True)
class BreakerHost:
    """What a Breaker needs from the client that made it, and nothing more.

    `states` is the follower's live mapping (read on every call, never copied); `emit` appends
    one outcome to the client's buffer, and `append` is that buffer's own append of the outcome tuple
    (service, outcome, latencyMs, ts, instance, error), for the success path to skip a call.
    """

    enforce: bool
    states: Mapping[str, LocalState]
    stream_live: Callable[[], bool]
    trial_gate: Callable[[str], TrialGate]
    emit: Callable[[str, str, float, str | None], None]
    append: Callable[[tuple], object]
    instance: str
    count_rejected: Callable[[], None]
    count_fail_open: Callable[[], None]


# One stack of open `with breaker:` frames per thread / task (contextvars copy per task).
_frames: ContextVar[tuple] = ContextVar("fusebox_breaker_frames", default=())

_perf = time.perf_counter
_now = time.time


class Breaker:
    """The breaker of one dependency (`service`) as seen by this process. Create it with `client.breaker()`."""

    def __init__(self, host: BreakerHost, service: str, *, timeout: float | None = None,
                 timeout_exceptions: ExceptionTypes = (), exclude: ExceptionTypes = ()) -> None:
        self._host = host
        self._emit = host.emit
        self.service = service
        self.timeout = timeout
        # TimeoutError always counts (the breaker's own deadline raises it); the others are the caller's
        self.timeout_exceptions = (TimeoutError, *timeout_exceptions)
        self.exclude = tuple(exclude)
        self._gate = host.trial_gate(service)
        self._states = host.states
        self._append = host.append
        self._instance = host.instance

    # ------------------------------------------------------------ state

    @property
    def state(self) -> str:
        """The last known circuit state: "closed", "open", "half-open", or "unknown"."""
        local = self._states.get(self.service)
        return local.circuit if local is not None else "unknown"

    # ------------------------------------------------------------ admission

    def _admit(self) -> bool:
        """True for a half-open trial, False for a plain call; raises BreakerOpenError to short-circuit."""
        host = self._host
        if not host.enforce:
            return False
        if not host.stream_live():
            host.count_fail_open()
            return False
        local = self._states.get(self.service)
        if local is None or local.circuit == "closed":
            return False
        now_ms = _now() * 1000
        if local.circuit == "open":
            reopen_at = (local.opened_at_ms or 0) + local.reset_timeout_ms
            if now_ms < reopen_at:
                self._reject("open", (reopen_at - now_ms) / 1000)
        if self._gate.try_enter(local.request_limit):
            return True
        self._reject("half-open", None)
        return False  # unreachable: _reject raises

    def _reject(self, state: str, retry_after_s: float | None) -> None:
        self._host.count_rejected()
        self._emit(self.service, "rejected", 0.0, "BreakerOpenError")
        raise BreakerOpenError(self.service, state, retry_after_s)

    # ------------------------------------------------------------ classification

    def _finish(self, started: float, trial: bool, exc: BaseException | None) -> None:
        latency_ms = (_perf() - started) * 1000
        if trial:
            self._gate.leave()
        if exc is None:
            timeout = self.timeout
            if timeout is not None and latency_ms > timeout * 1000:
                self._emit(self.service, "timeout", latency_ms, "SlowCall")
            else:  # the common path, so `host.emit` inline: the buffer takes the outcome as a tuple
                self._append((self.service, "success", latency_ms, int(_now() * 1000), self._instance, None))
            return
        if self.exclude and isinstance(exc, self.exclude):
            self._emit(self.service, "success", latency_ms, None)
        elif isinstance(exc, self.timeout_exceptions):
            self._emit(self.service, "timeout", latency_ms, _error_name(exc))
        elif isinstance(exc, Exception):
            self._emit(self.service, "failure", latency_ms, _error_name(exc))
        # cancellation, KeyboardInterrupt, SystemExit: the caller stopped, the dependency did not fail

    # ------------------------------------------------------------ `with breaker:`

    def __enter__(self) -> "Breaker":
        trial = self._admit()
        _frames.set(_frames.get() + ((self, _perf(), trial, None),))
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        frames = _frames.get()
        _, started, trial, _ = frames[-1]
        _frames.set(frames[:-1])
        self._finish(started, trial, exc)

    async def __aenter__(self) -> "Breaker":
        trial = self._admit()
        deadline = None
        if self.timeout is not None:
            deadline = asyncio.timeout(self.timeout)
            await deadline.__aenter__()
        _frames.set(_frames.get() + ((self, _perf(), trial, deadline),))
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        frames = _frames.get()
        _, started, trial, deadline = frames[-1]
        _frames.set(frames[:-1])
        if deadline is None:
            self._finish(started, trial, exc)
            return
        try:
            await deadline.__aexit__(exc_type, exc, tb)  # turns its own cancellation into TimeoutError
        except BaseException as raised:
            self._finish(started, trial, raised)
            raise
        self._finish(started, trial, exc)

    # ------------------------------------------------------------ decorator

    @overload
    def __call__(self, fn: Callable[P, "asyncio.Future[R]"]) -> Callable[P, "asyncio.Future[R]"]: ...

    @overload
    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]: ...

    def __call__(self, fn: Callable[P, Any]) -> Callable[P, Any]:
        """Decorate a sync or async function: every call of it goes through this breaker."""
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                return await self.call_async(fn, *args, **kwargs)
            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            # the body of `call`, inline: one Python frame less on every call of a decorated function
            trial = self._admit()
            started = _perf()
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                self._finish(started, trial, exc)
                raise
            self._finish(started, trial, None)
            return result
        return wrapper

    def call(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Call `fn(*args, **kwargs)` through the breaker."""
        trial = self._admit()
        started = _perf()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            self._finish(started, trial, exc)
            raise
        self._finish(started, trial, None)
        return result

    async def call_async(self, fn: Callable[P, Any], *args: P.args, **kwargs: P.kwargs) -> Any:
        """Await `fn(*args, **kwargs)` through the breaker, cancelled after `timeout` seconds if set."""
        trial = self._admit()
        started = _perf()
        try:
            if self.timeout is None:
                result = await fn(*args, **kwargs)
            else:
                async with asyncio.timeout(self.timeout):
                    result = await fn(*args, **kwargs)
        except BaseException as exc:
            self._finish(started, trial, exc)
            raise
        self._finish(started, trial, None)
        return result

    def __repr__(self) -> str:
        return f"Breaker({self.service!r}, state={self.state!r})"


def _error_name(exc: BaseException) -> str:
    # The class only: exception messages may carry user data, and the event is shared widely.
    cls = type(exc)
    return cls.__name__ if cls.__module__ in ("builtins", "asyncio.exceptions") else f"{cls.__module__}.{cls.__qualname__}"
