"""Reading topics without a consumer group, every partition assigned: once to the end
(`read_from_start`), or for as long as the process runs (`TopicFollower`)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from fusebox.kafka_security import kafka_client_options

logger = logging.getLogger("fusebox.topic_reader")

Batches = dict[TopicPartition, list[ConsumerRecord]]


async def assigned_partitions(consumer: AIOKafkaConsumer, topic: str, timeout_s: float = 10.0) -> list[TopicPartition]:
    """Subscribe a started, group-less consumer to `topic`; return all its partitions, sorted."""
    consumer.subscribe([topic])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not consumer.assignment() and loop.time() < deadline:
        await asyncio.sleep(0.05)
    partitions = sorted(consumer.assignment())
    if not partitions:
        raise KafkaError(f"topic {topic} has no partitions")
    return partitions


async def read_from_start(bootstrap: str, topic: str) -> AsyncIterator[ConsumerRecord]:
    """Every record of `topic`, partition by partition in offset order, up to the end as of the start of reading.

    A `TopicFollower` from the beginning with one partition resumed at a time; a failure ends the
    reading (no retry: a partial read is no answer). A fetch waits for the reader to take the one
    before it, so at most one fetch is held in memory.
    """
    handed: asyncio.Queue = asyncio.Queue()
    starts: dict[TopicPartition, int] = {}
    ends: dict[TopicPartition, int] = {}
    pending: list[TopicPartition] = []

    def on_record(record: ConsumerRecord) -> None:
        if record.offset < ends[TopicPartition(record.topic, record.partition)]:
            handed.put_nowait(record)

    async def resume_next(consumer: AIOKafkaConsumer) -> None:
        while pending and follower.next_offsets.get(pending[0], starts[pending[0]]) >= ends[pending[0]]:
            pending.pop(0)
        if not pending:
            handed.put_nowait(_READ_TO_END)
            return
        consumer.pause(*(tp for tp in consumer.assignment() if tp != pending[0]))
        consumer.resume(pending[0])

    async def on_connected(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        ends.update(await consumer.end_offsets(partitions))
        starts.update(await consumer.beginning_offsets(partitions))
        pending[:] = [tp for tp in partitions if ends[tp] > starts[tp]]
        await resume_next(consumer)

    async def after_fetch(consumer: AIOKafkaConsumer, batches: Batches) -> None:
        await handed.join()
        await resume_next(consumer)

    async def follow() -> None:
        try:
            await follower.run()
        except Exception as exc:
            handed.put_nowait(exc)

    follower = TopicFollower(bootstrap, topic, on_record, max_records=20000, on_connected=on_connected,
                             after_fetch=after_fetch, failures=(), max_partition_fetch_bytes=8 * 1024 * 1024)
    following = asyncio.create_task(follow())
    try:
        while True:
            item = await handed.get()
            handed.task_done()
            if item is _READ_TO_END:
                return
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)


_READ_TO_END = object()


class TopicFollower:
    """Follows every partition of `topic`, handing each record to `on_record` in offset order.

    It starts at the beginning of each partition (`start="beginning"`) or at its end as of the
    first connection (`start="end"`), and after a failure reconnects and resumes where it
    stopped. `on_connected(consumer, partitions)` runs once per connection, before the first
    fetch; `after_fetch(consumer, batches)` after every fetch, records handed over (empty when
    nothing new came within the fetch wait). Failures of `failures` types are logged at
    `log_level` and retried after `retry_delay_s(consecutive_failures)` seconds.
    """

    def __init__(self, bootstrap: str, topic: str, on_record: Callable[[ConsumerRecord], None], *,
                 start: str = "beginning", max_records: int = 5000,
                 on_connected: Callable[[AIOKafkaConsumer, list[TopicPartition]], Awaitable[None]] | None = None,
                 after_fetch: Callable[[AIOKafkaConsumer, Batches], Awaitable[None]] | None = None,
                 failures: tuple[type[BaseException], ...] = (KafkaError, OSError),
                 retry_delay_s: Callable[[int], float] = lambda failures: 1.0,
                 log_level: int = logging.WARNING, **consumer_options) -> None:
        if start not in ("beginning", "end"):
            raise ValueError("start must be 'beginning' or 'end'")
        self.bootstrap = bootstrap
        self.topic = topic
        self.next_offsets: dict[TopicPartition, int] = {}
        self._on_record = on_record
        self._start = start
        self._max_records = max_records
        self._on_connected = on_connected
        self._after_fetch = after_fetch
        self._failures = failures
        self._retry_delay_s = retry_delay_s
        self._log_level = log_level
        self._consumer_options = {"auto_offset_reset": "earliest" if start == "beginning" else "latest",
                                  **consumer_options}

    async def run(self) -> None:
        failures = 0
        while True:
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                        **self._consumer_options, **kafka_client_options())
            try:
                await consumer.start()
                partitions = await assigned_partitions(consumer, self.topic)
                await self._seek(consumer, partitions)
                if self._on_connected is not None:
                    await self._on_connected(consumer, partitions)
                failures = 0
                await self._follow(consumer)
            except asyncio.CancelledError:
                raise
            except self._failures as exc:
                failures += 1
                delay = self._retry_delay_s(failures)
                logger.log(self._log_level, "following %s failed, retrying in %.1fs: %r", self.topic, delay, exc)
                await asyncio.sleep(delay)
            finally:
                try:
                    await asyncio.wait_for(consumer.stop(), 5)
                except Exception:  # nothing to save from a consumer being dropped
                    pass

    async def _seek(self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            if tp in self.next_offsets:
                consumer.seek(tp, self.next_offsets[tp])
            elif self._start == "beginning":
                await consumer.seek_to_beginning(tp)
            else:
                await consumer.seek_to_end(tp)
                self.next_offsets[tp] = await consumer.position(tp)

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        on_record, next_offsets, after_fetch = self._on_record, self.next_offsets, self._after_fetch
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=self._max_records)
            for tp, records in batches.items():
                for record in records:
                    on_record(record)
                    next_offsets[tp] = record.offset + 1
            if after_fetch is not None:
                await after_fetch(consumer, batches)
