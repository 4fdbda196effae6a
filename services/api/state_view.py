"""The in-memory view of every service's ServiceState, rebuilt from the compacted `breaker-states` topic."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from fusebox.core import codec
from fusebox.topic_reader import TopicFollower

logger = logging.getLogger("fusebox.api.state_view")

Listener = Callable[[str, "dict | None"], None]


class StateView:
    """Latest state per service, with each state's JSON kept encoded so reads never re-encode."""

    def __init__(self) -> None:
        self._states: dict[str, dict] = {}
        self._encoded: dict[str, bytes] = {}
        self._status_body: bytes | None = None
        self._listeners: list[Listener] = []
        self.caught_up = asyncio.Event()

    def __len__(self) -> int:
        return len(self._states)

    def __contains__(self, service: str) -> bool:
        return service in self._states

    def get(self, service: str) -> dict | None:
        return self._states.get(service)

    def encoded(self, service: str) -> bytes | None:
        return self._encoded.get(service)

    def states(self) -> dict[str, dict]:
        return dict(self._states)

    def status_body(self) -> bytes:
        """`GET /status`'s body: every state, ordered by service name."""
        if self._status_body is None:
            self._status_body = b"[" + b",".join(self._encoded[s] for s in sorted(self._encoded)) + b"]"
        return self._status_body

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def apply(self, service: str, value: bytes | None) -> None:
        """Fold one `breaker-states` record in: a state replaces the last one, a tombstone removes the service."""
        if value is None:
            if self._states.pop(service, None) is None:
                return
            del self._encoded[service]
            state = None
        else:
            state = codec.loads(value)
            if not isinstance(state, dict):
                raise ValueError("a ServiceState must be a JSON object")
            self._states[service] = state
            self._encoded[service] = bytes(value)
        self._status_body = None
        for listener in self._listeners:
            listener(service, state)


class StateViewFollower:
    """Reads `breaker-states` from offset 0 into a StateView, marks it caught up at the start's end offsets, then follows."""

    def __init__(self, view: StateView, bootstrap: str, topic: str, *, on_progress: Callable[[], None] | None = None):
        self.view = view
        self._on_progress = on_progress
        self._end_offsets: dict[TopicPartition, int] | None = None
        self._follower = TopicFollower(bootstrap, topic, self._apply, on_connected=self._connected,
                                       after_fetch=self._fetched, isolation_level="read_committed",
                                       request_timeout_ms=15000)

    async def run(self) -> None:
        await self._follower.run()

    async def _connected(self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        if self._end_offsets is None:
            self._end_offsets = await consumer.end_offsets(partitions)

    async def _fetched(self, consumer: AIOKafkaConsumer, batches: dict) -> None:
        if not self.view.caught_up.is_set() and await self._is_caught_up(consumer):
            logger.info("state view caught up: %d services", len(self.view))
            self.view.caught_up.set()
        if batches and self._on_progress is not None:
            self._on_progress()

    def _apply(self, record) -> None:
        try:
            service = record.key.decode("utf-8") if record.key is not None else None
            if not service:
                raise ValueError("a breaker-states record needs the service as its key")
            self.view.apply(service, record.value)
        except (ValueError, UnicodeDecodeError, codec.DecodeError) as exc:
            logger.error("skipped a bad breaker-states record at %s:%d: %r", record.partition, record.offset, exc)

    async def _is_caught_up(self, consumer: AIOKafkaConsumer) -> bool:
        for tp, end in (self._end_offsets or {}).items():
            if await consumer.position(tp) < end:
                return False
        return True
