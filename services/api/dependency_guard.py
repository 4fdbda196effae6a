"""The gateway's own circuit breaker around Kafka and PostgreSQL: fail fast while a dependency is down.

    closed --(failure_threshold consecutive failures)--> open
    open   --(reset_timeout elapsed; next call is the one trial)--> half-open
    half-open --(trial succeeds)--> closed      half-open --(trial fails)--> open
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

logger = logging.getLogger("fusebox.api.dependency_guard")
T = TypeVar("T")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class DependencyUnavailable(Exception):
    """A dependency call was refused (breaker open) or failed; answer 503 with Retry-After."""

    def __init__(self, dependency: str, message: str, retry_after_s: float):
        super().__init__(message)
        self.dependency = dependency
        self.message = message
        self.retry_after_s = retry_after_s


class DependencyBreaker:
    def __init__(self, dependency: str, *, failure_threshold: int = 3, reset_timeout_s: float = 5.0,
                 failure_types: tuple[type[BaseException], ...] = (OSError,),
                 clock: Callable[[], float] = time.monotonic,
                 on_state: Callable[[str, str], None] | None = None):
        self.dependency = dependency
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self.failure_types = (asyncio.TimeoutError, *failure_types)
        self._clock = clock
        self._on_state = on_state
        self.state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    def retry_after_s(self) -> float:
        if self.state == CLOSED:
            return 0.0
        return max(0.0, self._opened_at + self.reset_timeout_s - self._clock())

    def _admit(self) -> None:
        if self.state == OPEN:
            if self._clock() < self._opened_at + self.reset_timeout_s:
                raise self._refusal()
            self._set(HALF_OPEN)
        if self.state == HALF_OPEN:
            if self._trial_in_flight:
                raise self._refusal()
            self._trial_in_flight = True

    def _refusal(self) -> DependencyUnavailable:
        return DependencyUnavailable(self.dependency, f"{self.dependency} is unavailable; try again later",
                                     max(1.0, self.retry_after_s()))

    def record_success(self) -> None:
        self._trial_in_flight = False
        self._failures = 0
        if self.state != CLOSED:
            self._set(CLOSED)

    def record_failure(self) -> None:
        self._trial_in_flight = False
        self._failures += 1
        if self.state == HALF_OPEN or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
            self._set(OPEN)

    def _set(self, state: str) -> None:
        if state != self.state:
            logger.warning("breaker around %s: %s -> %s", self.dependency, self.state, state)
            self.state = state
            if self._on_state is not None:
                self._on_state(self.dependency, state)

    async def call(self, operation: Callable[[], Awaitable[T]], timeout_s: float) -> T:
        """Run `operation` within `timeout_s` through the breaker; dependency failures become DependencyUnavailable."""
        self._admit()
        try:
            result = await asyncio.wait_for(operation(), timeout_s)
        except self.failure_types as exc:
            self.record_failure()
            logger.warning("%s call failed: %r", self.dependency, exc)
            raise DependencyUnavailable(self.dependency, f"{self.dependency} did not answer in time or failed",
                                        max(1.0, self.retry_after_s())) from exc
        except BaseException:
            self._trial_in_flight = False
            raise
        self.record_success()
        return result
