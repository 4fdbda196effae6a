"""Following `breaker-states` so that breakers can be enforced locally.

The follower reads the compacted topic from the beginning (every partition, no consumer group,
fusebox.topic_reader.TopicFollower), keeps a small `LocalState` per service, and probes the broker every `probe_interval_s`. The
stream counts as live only when it has caught up and the last probe succeeded recently;
otherwise breakers fail open (calls pass) and the SDK's stats say so.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from fusebox.core import codec
from fusebox.core.isotime import parse_iso_ms
from fusebox.topic_reader import TopicFollower

logger = logging.getLogger("fusebox.sdk.states")

CONNECTING = "connecting"
LIVE = "live"
UNAVAILABLE = "unavailable"
DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class LocalState:
    """What local enforcement needs from a ServiceState."""

    circuit: str  # "closed" | "open" | "half-open"
    opened_at_ms: int | None
    reset_timeout_ms: int
    request_limit: int
    version: int

    @classmethod
    def from_service_state(cls, state: dict) -> "LocalState":
        circuit, config = state["circuit"], state.get("config") or {}
        opened = circuit.get("openedAt")
        return cls(
            circuit=circuit["state"],
            opened_at_ms=parse_iso_ms(opened) if opened else None,
            reset_timeout_ms=int(config.get("resetTimeoutMs") or 30_000),
            request_limit=int(config.get("requestLimit") or 1),
            version=int(state.get("version") or 0),
        )


def _backoff_s(failures: int) -> float:
    return min(0.2 * 2 ** (failures - 1), 2.0)


class LocalStateFollower:
    def __init__(self, bootstrap: str, topic: str, *, probe_interval_s: float = 1.0,
                 stale_after_s: float = 3.0, client_id: str = "fusebox-sdk") -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.probe_interval_s = probe_interval_s
        self.stale_after_s = stale_after_s
        self.client_id = client_id
        self.states: dict[str, LocalState] = {}
        self.caught_up = False
        self.last_ok = 0.0  # monotonic time of the last successful fetch or probe
        self._end: dict[TopicPartition, int] = {}
        self._remaining: set[TopicPartition] = set()  # partitions not yet read to their end of the connection
        self._next_probe = 0.0

    @property
    def status(self) -> str:
        if not self.caught_up:
            return CONNECTING
        return LIVE if time.monotonic() - self.last_ok <= self.stale_after_s else UNAVAILABLE

    @property
    def live(self) -> bool:
        return self.caught_up and time.monotonic() - self.last_ok <= self.stale_after_s

    async def run(self) -> None:
        await TopicFollower(self.bootstrap, self.topic, lambda record: self._apply(record.key, record.value),
                            on_connected=self._connected, after_fetch=self._fetched, failures=(Exception,),
                            retry_delay_s=_backoff_s, log_level=logging.INFO, client_id=self.client_id,
                            fetch_max_wait_ms=100, request_timeout_ms=10_000, metadata_max_age_ms=30_000).run()

    async def _connected(self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        self._end = await consumer.end_offsets(partitions)
        self.last_ok = time.monotonic()
        self._remaining = {tp for tp, offset in self._end.items() if offset > await consumer.position(tp)}
        if not self._remaining:
            self.caught_up = True
        self._next_probe = time.monotonic() + self.probe_interval_s

    async def _fetched(self, consumer: AIOKafkaConsumer, batches: dict) -> None:
        remaining, end = self._remaining, self._end
        for tp, records in batches.items():
            if remaining and records and records[-1].offset >= end[tp] - 1:
                remaining.discard(tp)
        if batches:
            self.last_ok = time.monotonic()
        if not self.caught_up and not remaining:
            self.caught_up = True
            logger.info("fusebox: breaker-states caught up (%d services)", len(self.states))
        if time.monotonic() >= self._next_probe:
            self._next_probe = time.monotonic() + self.probe_interval_s
            await self._probe(consumer, list(end))

    async def _probe(self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        # getmany() returns nothing both when there is nothing new and when the broker is gone:
        # asking for the end offsets tells the two apart.
        try:
            await asyncio.wait_for(consumer.end_offsets(partitions), timeout=self.stale_after_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.debug("breaker-states probe failed: %r", exc)
            return
        self.last_ok = time.monotonic()

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        service = key.decode("utf-8", "replace")
        if value is None:
            self.states.pop(service, None)
            return
        try:
            state = LocalState.from_service_state(codec.loads(value))
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("fusebox: ignoring a breaker-states record for %r: %r", service, exc)
            return
        # The partition's latest record wins (not the highest version): an aggregator rebuilt
        # from scratch starts its versions again, and its states are still the current ones.
        self.states[service] = state
