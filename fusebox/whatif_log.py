"""One service's retained log, streamed in the live fold's order, for `fusebox whatif`.

Every Fusebox topic is keyed by service name, and every producer places a key with the Java
client's murmur2 partitioner, so a service's records all sit in one partition of each topic:
this reads only that partition, and drops the other services' records by their key bytes before
decoding anything. Commands are put back among the outcomes where the live worker folded them
(their CommandResults' `appliedAfter`, as `fusebox replay` does); a command with no result yet
was not folded live and is left out. Records are admitted by the live worker's rule, so what the
worker sent to a dead-letter topic is skipped here too.

Memory: the service's commands and their places (few: operators' commands and deadline ticks)
and one fetch of outcomes at a time.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from fusebox.core import breaker
from fusebox.core.codec import loads
from fusebox.core.isotime import iso_ms
from fusebox.core.topics import BREAKER_COMMANDS, BREAKER_STATES, CALL_OUTCOMES, COMMAND_RESULTS, TopicSpec
from fusebox.core.validation import ValidationError
from fusebox.core.whatif import WhatIf
from fusebox.kafka_security import kafka_client_options
from fusebox.topic_reader import assigned_partitions
from fusebox.aggregator.processor import admit, source_of

RANGE_BEYOND_RETENTION = "RANGE_BEYOND_RETENTION"
WHATIF_TOO_LONG = "WHATIF_TOO_LONG"
FETCH_RECORDS = 20_000

_partitioner = DefaultPartitioner()


class RangeBeyondRetention(Exception):
    """`since` is older than the oldest record still retained (the log was truncated there)."""

    def __init__(self, since_ms: int, oldest_ms: int) -> None:
        super().__init__(f"the log reaches back to {iso_ms(oldest_ms)} only; since {iso_ms(since_ms)} is older")
        self.since_ms, self.oldest_ms = since_ms, oldest_ms

    def details(self) -> list[dict[str, str]]:
        return [{"field": "since", "issue": "is older than the oldest retained record",
                 "oldestAvailable": iso_ms(self.oldest_ms)}]


class WhatIfTooLong(Exception):
    """The re-fold did not finish within its time limit."""


def partition_of(service: str, partitions: int) -> int:
    """The partition every producer puts `service`'s records in (the SDK's partitioner)."""
    every = list(range(partitions))
    return _partitioner(service.encode(), every, every)


@dataclass
class Window:
    """Where one input partition of the service starts and ends, and its oldest record's time."""
    tp: TopicPartition
    start: int
    end: int
    oldest_ms: int | None


class ServiceLog:
    """The service's partitions of the re-fold inputs, read once each, to their end at opening."""

    def __init__(self, bootstrap: str, prefix: str, service: str, max_clock_skew_ms: int) -> None:
        self.bootstrap, self.prefix, self.service = bootstrap, prefix, service
        self.key = service.encode()
        self.max_clock_skew_ms = max_clock_skew_ms
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> "ServiceLog":
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None,
                                          auto_offset_reset="earliest", max_partition_fetch_bytes=8 * 1024 * 1024,
                                          **kafka_client_options())
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self._consumer.stop()

    async def window(self, spec: TopicSpec) -> Window:
        consumer = self._consumer
        topic = spec.name(self.prefix)
        partitions = await _partition_count(consumer, topic)
        tp = TopicPartition(topic, partition_of(self.service, partitions))
        consumer.assign([tp])
        start = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        oldest = None
        if end > start:
            consumer.seek(tp, start)
            batch = await consumer.getmany(tp, timeout_ms=5000, max_records=1)
            records = batch.get(tp, [])
            oldest = records[0].timestamp if records else None
        return Window(tp, start, end, oldest)

    async def records(self, window: Window) -> AsyncIterator[list]:
        """The service's records of `window`, fetch by fetch, the other keys dropped."""
        consumer, key, tp = self._consumer, self.key, window.tp
        if window.end <= window.start:
            return
        consumer.assign([tp])
        consumer.seek(tp, window.start)
        last = window.end - 1
        while True:
            batch = await consumer.getmany(tp, timeout_ms=1000, max_records=FETCH_RECORDS)
            records = batch.get(tp, [])
            if not records:
                continue
            yield [record for record in records if record.key == key and record.offset <= last]
            if records[-1].offset >= last:
                return

    async def placements(self) -> dict[str, dict[str, int]]:
        """commandId → where the live worker folded the command (its result's `appliedAfter`)."""
        placed: dict[str, dict[str, int]] = {}
        async for records in self.records(await self.window(COMMAND_RESULTS)):
            for record in records:
                if record.value is not None:
                    result = loads(record.value)
                    placed[result["commandId"]] = result.get("appliedAfter", {})
        return placed

    async def commands(self, window: Window, placed: dict[str, dict[str, int]]) -> breaker.CommandQueue:
        queue = breaker.CommandQueue()
        source = source_of(BREAKER_COMMANDS.suffix, window.tp.partition)
        async for records in self.records(window):
            for record in records:
                body = self.admitted(BREAKER_COMMANDS.suffix, record)
                if body is not None and body["commandId"] in placed:
                    queue.add(self.service, placed[body["commandId"]], (source, record.offset, body))
        return queue

    def admitted(self, topic: str, record: Any) -> dict | None:
        try:
            return admit(topic, record, self.max_clock_skew_ms)
        except ValidationError:
            return None  # the live worker sent it to the dead-letter topic


async def _partition_count(consumer: AIOKafkaConsumer, topic: str) -> int:
    """How many partitions `topic` has (the operator's, not necessarily the registry's)."""
    partitions = consumer.partitions_for_topic(topic)
    if partitions:
        return len(partitions)
    consumer.unsubscribe()  # drop the partition assigned before: subscribing and assigning exclude each other
    count = len(await assigned_partitions(consumer, topic))  # subscribing fetches the topic's metadata
    consumer.unsubscribe()
    return count


async def service_is_known(bootstrap: str, prefix: str, service: str) -> bool:
    """Whether `service` has a breaker state (its partition of the compacted `breaker-states`)."""
    known = False
    async with ServiceLog(bootstrap, prefix, service, 0) as log:
        async for records in log.records(await log.window(BREAKER_STATES)):
            for record in records:
                known = record.value is not None
    return known


async def run_whatif(bootstrap: str, prefix: str, service: str, since_ms: int, until_ms: int,
                     partial_config: Any, *, max_clock_skew_ms: int, time_limit_s: float) -> dict[str, Any]:
    """The what-if answer (docs/whatif.md) for `service` over [since_ms, until_ms].

    Raise RangeBeyondRetention, WhatIfTooLong, or ValidationError for an invalid candidate.
    """
    try:
        return await asyncio.wait_for(_run(bootstrap, prefix, service, since_ms, until_ms, partial_config,
                                           max_clock_skew_ms), time_limit_s)
    except asyncio.TimeoutError:
        raise WhatIfTooLong(f"the re-fold took longer than {time_limit_s:g}s; ask for a shorter range") from None


async def _run(bootstrap: str, prefix: str, service: str, since_ms: int, until_ms: int,
               partial_config: Any, max_clock_skew_ms: int) -> dict[str, Any]:
    refold = WhatIf(service, since_ms, until_ms, partial_config)
    async with ServiceLog(bootstrap, prefix, service, max_clock_skew_ms) as log:
        outcomes = await log.window(CALL_OUTCOMES)
        command_window = await log.window(BREAKER_COMMANDS)
        oldest = min((w.oldest_ms for w in (outcomes, command_window) if w.oldest_ms is not None), default=None)
        truncated = outcomes.start > 0 or command_window.start > 0
        if truncated and oldest is not None and since_ms < oldest:
            raise RangeBeyondRetention(since_ms, oldest)
        queue = await log.commands(command_window, await log.placements())
        source = source_of(CALL_OUTCOMES.suffix, outcomes.tp.partition)
        async for records in log.records(outcomes):
            events = []
            waiting = queue.next_position(service)
            if waiting is None or (records and waiting >= records[-1].offset):
                # No command goes among these records: the plain loop (this runs for every record).
                admitted = log.admitted
                for record in records:
                    body = admitted(CALL_OUTCOMES.suffix, record)
                    if body is not None:
                        events.append((source, record.offset, body))
            else:
                for record in records:
                    body = log.admitted(CALL_OUTCOMES.suffix, record)
                    if body is None:
                        continue
                    events.extend(queue.due_before(service, record.offset))
                    events.append((source, record.offset, body))
            if not refold.feed(events):
                break
            await asyncio.sleep(0)  # a long re-fold leaves the event loop to the gateway's other requests
        else:
            refold.feed(queue.remaining(service))
    return {"service": service, "since": iso_ms(since_ms), "until": iso_ms(until_ms),
            "oldestAvailable": iso_ms(oldest) if oldest is not None else None, **refold.answer()}
