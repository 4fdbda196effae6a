"""The outcome buffer and its background sender: callers append, one task ships batches to Kafka.

    caller threads / tasks ──append()──► [ bounded deque ] ──take()──► in flight ──ack──► delivered
                               │ full                                      │ send failed
                               ▼                                           ▼
                            dropped (counted)                  back to the front of the deque, retried

`capacity` bounds everything not yet acknowledged (queued + in flight), so "buffered" has one
meaning: at most `capacity` outcomes wait for Kafka; any beyond that are dropped and counted,
never blocking the caller. A failed batch is retried, so delivery is at-least-once: an ambiguous
failure (the broker wrote the batch but the ack was lost) can deliver an outcome twice, with the
same `eventId`.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import deque
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from fusebox.core import codec
from fusebox.kafka_security import kafka_client_options

logger = logging.getLogger("fusebox.sdk.publisher")

_dumps = codec.dumps
# The Java client's murmur2 partitioner, as the API's and the aggregator's producers use: call-outcomes
# stay co-partitioned with breaker-commands.
_partitioner = DefaultPartitioner()


@dataclass(slots=True)
class PublisherCounters:
    accepted: int = 0
    delivered: int = 0
    dropped: int = 0
    failed_sends: int = 0
    last_error: str | None = None


class OutcomeBuffer:
    """Thread-safe bounded buffer of CallOutcomes; `append` never blocks.

    An outcome is a CallOutcome dict, or a breaker's `(service, outcome, latencyMs, ts, instance, error)` tuple:
    cheaper for the caller to make; the sender turns it into the dict.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.counters = PublisherCounters()
        self._queue: deque[dict] = deque()
        self._in_flight = 0
        self._lock = threading.Lock()

    def append(self, outcome: dict | tuple) -> bool:
        """Queue one outcome; False (and one more drop counted) when the buffer is full."""
        with self._lock:
            if len(self._queue) + self._in_flight >= self.capacity:
                self.counters.dropped += 1
                return False
            self._queue.append(outcome)
            self.counters.accepted += 1
            return True

    def take(self, limit: int) -> list[dict | tuple]:
        """Move up to `limit` queued outcomes in flight."""
        with self._lock:
            n = min(limit, len(self._queue))
            popleft = self._queue.popleft
            batch = [popleft() for _ in range(n)]
            self._in_flight += n
            return batch

    def acknowledge(self, batch: list[dict | tuple]) -> None:
        with self._lock:
            self._in_flight -= len(batch)
            self.counters.delivered += len(batch)

    def give_back(self, batch: list[dict | tuple], error: BaseException) -> None:
        """A failed batch goes back to the front, in its order, to be sent again."""
        with self._lock:
            self._in_flight -= len(batch)
            self._queue.extendleft(reversed(batch))
            self.counters.failed_sends += 1
            self.counters.last_error = f"{type(error).__name__}: {error}"[:300]

    @property
    def pending(self) -> int:
        """Outcomes not yet acknowledged by Kafka (queued and in flight)."""
        return len(self._queue) + self._in_flight


class Sender:
    """Ships the buffer to `topic` in batches from the SDK's event loop; retries with backoff."""

    def __init__(self, buffer: OutcomeBuffer, bootstrap: str, topic: str, *, batch_size: int = 2000,
                 linger_s: float = 0.01, request_timeout_ms: int = 10_000, compression: str | None = "lz4",
                 client_id: str = "fusebox-sdk") -> None:
        self.buffer = buffer
        self.bootstrap = bootstrap
        self.topic = topic
        self.batch_size = batch_size
        self.linger_s = linger_s
        self.request_timeout_ms = request_timeout_ms
        self.compression = compression
        self.client_id = client_id
        self.connected = False
        self._producer: AIOKafkaProducer | None = None
        self._closing = False
        self._partition_count = 0
        self._partition_of: dict[str, tuple[bytes, int]] = {}

    def close_soon(self) -> None:
        """Stop once the buffer is empty (the caller bounds how long it waits)."""
        self._closing = True

    async def run(self) -> None:
        backoff = 0.1
        try:
            while True:
                if self._producer is None:
                    if self._closing and self.buffer.pending == 0:
                        return
                    try:
                        self._producer = await self._start_producer()
                        self.connected, backoff = True, 0.1
                    except Exception as exc:  # Kafka unreachable: keep buffering, try again
                        self._note_down(exc)
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 2, 2.0)
                        continue
                batch = self.buffer.take(self.batch_size)
                if not batch:
                    if self._closing:
                        return
                    await asyncio.sleep(self.linger_s)
                    continue
                try:
                    await self._send(batch)
                except Exception as exc:
                    self.buffer.give_back(batch, exc)
                    self._note_down(exc)
                    # A fresh producer (new producer id) after a failed batch: the idempotent
                    # producer's sequence numbers do not survive expired batches.
                    producer, self._producer = self._producer, None
                    await _stop_quietly(producer)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                else:
                    self.buffer.acknowledge(batch)
                    self.connected, backoff = True, 0.1
        finally:
            if self._producer is not None:
                producer, self._producer = self._producer, None
                await _stop_quietly(producer)

    async def _start_producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, client_id=self.client_id, acks="all", enable_idempotence=True,
            compression_type=self.compression, linger_ms=5, max_batch_size=256 * 1024,
            request_timeout_ms=self.request_timeout_ms, retry_backoff_ms=200,
            **kafka_client_options())
        try:
            await producer.start()
        except BaseException:
            await _stop_quietly(producer)
            raise
        return producer

    async def _send(self, batch: list[dict | tuple]) -> None:
        """One record batch per partition (far cheaper than a send() per record), then wait for every ack."""
        # The aggregator's Publisher (services/aggregator/app.py) builds per-partition batches too;
        # they stay apart because one builder shared by both cost the SDK about 9% on this hot path.
        producer, topic, dumps = self._producer, self.topic, _dumps
        assert producer is not None
        partitions = sorted(await producer.partitions_for(topic))
        if len(partitions) != self._partition_count or len(self._partition_of) > 50_000:
            # the key -> partition map follows the partition count; bounded for endless service names
            self._partition_count, self._partition_of = len(partitions), {}
        partition_of = self._partition_of
        builders: dict[int, object] = {}
        futures = []
        event_id = _event_ids(len(batch))
        for i, outcome in enumerate(batch):
            if type(outcome) is tuple:  # the dict replaces the tuple, so that a retry keeps its eventId
                service, kind, latency_ms, ts, instance, error = outcome
                outcome = batch[i] = {"service": service, "outcome": kind, "latencyMs": latency_ms, "ts": ts,
                                      "instance": instance, "error": error}
            if "eventId" not in outcome:  # assigned here, off the caller's path, once: retries keep it
                outcome["eventId"] = event_id(i)
            service = outcome["service"]
            known = partition_of.get(service)
            if known is None:
                key = service.encode()
                known = partition_of[service] = (key, _partitioner(key, partitions, partitions))
            key, partition = known
            value = dumps(outcome)
            builder = builders.get(partition)
            if builder is None:
                builder = builders[partition] = producer.create_batch()
            if builder.append(timestamp=None, key=key, value=value) is None:  # full: ship it, start another
                futures.append(await producer.send_batch(builder, topic, partition=partition))
                builder = builders[partition] = producer.create_batch()
                builder.append(timestamp=None, key=key, value=value)
        for partition, builder in builders.items():
            futures.append(await producer.send_batch(builder, topic, partition=partition))
        await asyncio.gather(*futures)

    def _note_down(self, exc: BaseException) -> None:
        if self.connected:
            logger.warning("fusebox: cannot deliver call outcomes (%r); buffering up to %d", exc, self.buffer.capacity)
        self.connected = False
        self.buffer.counters.last_error = f"{type(exc).__name__}: {exc}"[:300]


def _event_ids(n: int):
    """The i-th of `n` random (version 4) UUIDs, from one read of the system's random source for the batch.

    `uuid.uuid4()` reads it once per call and builds a UUID object; per outcome that costs more than the rest
    of the send, and it runs on the SDK's thread, beside the caller's, under the same interpreter lock.
    """
    digits = os.urandom(16 * n).hex()

    def event_id(i: int) -> str:
        d = digits[32 * i:32 * i + 32]
        return f"{d[:8]}-{d[8:12]}-4{d[13:16]}-{_VARIANT[d[16]]}{d[17:20]}-{d[20:]}"
    return event_id


# RFC 9562 variant bits (10xx) on the first digit of the fourth group
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


async def _stop_quietly(producer: AIOKafkaProducer | None) -> None:
    if producer is None:
        return
    try:
        await asyncio.wait_for(producer.stop(), 5)
    except Exception as exc:  # stopping a producer whose broker is gone may fail; nothing to save
        logger.debug("producer stop failed: %r", exc)
