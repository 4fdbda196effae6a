"""The aggregator's own Kafka clients: the output producer, broker look-ups, and the dead-letter sender.

    Publisher          one record batch per topic partition, acks=all, idempotent; waits for the acks
    BrokerLookups      committed offsets of the group, first offsets of the log, a topic's max.message.bytes
    DeadLetterSender   refused records to call-outcomes.dlq, each cut to fit (dead_letters.py)
"""
from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import TopicPartition

from fusebox.aggregator import metrics
from fusebox.aggregator.dead_letters import dead_letter_record, header_only_record
from fusebox.aggregator.processor import DeadLetter
from fusebox.kafka_security import kafka_client_options

logger = logging.getLogger("fusebox.aggregator")

_partitioner = DefaultPartitioner()

PRODUCER_MAX_REQUEST_BYTES = 1_048_576
# The dead-letter bound when the DLQ's max.message.bytes cannot be read: below the broker's default.
FALLBACK_DEAD_LETTER_MAX_BYTES = 1_000_000
# Errors of the broker about one record batch itself; any other failure is not the record's.
RECORD_REFUSED = (MessageSizeTooLargeError, RecordListTooLargeError)


class Publisher:
    """An idempotent acks=all producer for the aggregator's outputs; `publish` waits for the acks.

    The SDK's Sender (fusebox/sdk/publisher.py) builds per-partition batches too; they stay apart
    because one builder shared by both cost the SDK about 9% on its hot path.
    """

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._producer: AIOKafkaProducer | None = None
        self._partitions: dict[str, list[int]] = {}
        self._partition_of: dict[tuple[str, bytes], int] = {}  # murmur2 in Python is costly; keys are services
        self._lock = asyncio.Lock()

    async def producer(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, acks="all",
                                            enable_idempotence=True, linger_ms=2,
                                            max_batch_size=256 * 1024,
                                            max_request_size=PRODUCER_MAX_REQUEST_BYTES, **kafka_client_options())
                await producer.start()
                self._producer = producer
            return self._producer

    async def publish(self, messages: list[tuple[str, bytes | None, bytes, list | None]],
                      partitions: list[int] | None = None) -> None:
        """Send every message and wait until Kafka acknowledges all of them.

        Messages go out as one record batch per topic partition (far cheaper than a send() per
        record); a keyed message lands where the Java client's murmur2 partitioner puts it, like
        every other Fusebox producer, unless its partition is given.
        """
        if not messages:
            return
        producer = await self.producer()
        builders: dict[tuple[str, int], object] = {}
        futures = []
        for index, (topic, key, value, headers) in enumerate(messages):
            if partitions is not None:
                partition = partitions[index]
            else:
                partition = self._partition_of.get((topic, key))
                if partition is None:
                    available = self._partitions.get(topic)
                    if available is None:
                        available = self._partitions[topic] = sorted(await producer.partitions_for(topic))
                    partition = _partitioner(key, available, available) if key is not None else available[0]
                    if key is not None:
                        self._partition_of[(topic, key)] = partition
            builder = builders.get((topic, partition))
            if builder is None:
                builder = builders[(topic, partition)] = producer.create_batch()
            if builder.append(timestamp=None, key=key, value=value, headers=headers or []) is None:
                futures.append(await producer.send_batch(builder, topic, partition=partition))
                builder = builders[(topic, partition)] = producer.create_batch()
                builder.append(timestamp=None, key=key, value=value, headers=headers or [])
        for (topic, partition), builder in builders.items():
            futures.append(await producer.send_batch(builder, topic, partition=partition))
        await asyncio.gather(*futures)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


class BrokerLookups:
    """Committed offsets of the group and first offsets of the log, for partitions of the inputs;
    topic configs."""

    def __init__(self, bootstrap: str) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000,
                                          **kafka_client_options())
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                          **kafka_client_options())

    async def start(self) -> None:
        await self._admin.start()
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()
        await self._admin.close()

    async def committed(self, group: str, partitions: list) -> dict:
        offsets = await self._admin.list_consumer_group_offsets(group, partitions=_kafka_partitions(partitions))
        return _per_partition(partitions, {tp: meta.offset for tp, meta in offsets.items()})

    async def log_start(self, partitions: list) -> dict:
        return _per_partition(partitions, await self._consumer.beginning_offsets(_kafka_partitions(partitions)))

    async def max_message_bytes(self, topic: str) -> int:
        """The topic's max.message.bytes: the largest record batch it takes."""
        wanted = "max.message.bytes"
        (response,) = await self._admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, configs={wanted: None})])
        for error_code, error_message, _type, _name, entries, *_ in response.resources:
            if error_code:
                raise KafkaError(f"describe configs of {topic}: error {error_code} {error_message}")
            for name, value, *_ in entries:
                if name == wanted:
                    return int(value)
        raise KafkaError(f"describe configs of {topic}: no {wanted}")


def _kafka_partitions(partitions: list) -> list[TopicPartition]:
    return [TopicPartition(tp.topic, tp.partition) for tp in partitions]


def _per_partition(partitions: list, found: dict) -> dict:
    """`found` (keyed by aiokafka's TopicPartition) keyed by the given partitions instead."""
    by_key = {(tp.topic, tp.partition): value for tp, value in found.items()}
    return {tp: by_key.get((tp.topic, tp.partition)) for tp in partitions}


class DeadLetterSender:
    """Sends refused records to the DLQ through a producer of its own: a refused one restarts it."""

    def __init__(self, bootstrap: str, topic: str, names: dict[str, str], broker) -> None:
        self.topic = topic
        self._names = names  # registry suffix -> this deployment's topic name
        self._broker = broker  # async () -> BrokerLookups
        self._publisher = Publisher(bootstrap)
        self._max_bytes: int | None = None

    async def send(self, letters: list[DeadLetter]) -> None:
        """Send refused records to the DLQ, each cut to fit (dead_letters.py); no record stops the fold.

        Should the DLQ refuse one anyway (its limit lowered since it was read), they go one by one,
        and a refused one again without its value. Any other failure is not the record's: it
        propagates, and nothing of the batch is committed.
        """
        topic, names, publisher = self.topic, self._names, self._publisher
        max_bytes = await self.max_bytes()
        messages = []
        for letter in letters:
            metrics.DEAD_LETTERS.labels(letter.record.topic, letter.code).inc()
            # Keyed as the source record was, so dead letters spread over the DLQ's partitions.
            key, value, headers = dead_letter_record(letter, names[letter.record.topic], max_bytes)
            if len(value) < len(letter.record.value or b""):
                metrics.DEAD_LETTERS_CUT.labels("cut").inc()
            messages.append((topic, key, value, headers))
        try:
            await publisher.publish(messages)
            return
        except KafkaError as exc:
            logger.error("the dead-letter topic refused a batch (%r): sending its %d dead letters one by one",
                         exc, len(messages), exc_info=True)
        # A new producer: the idempotent producer's sequence numbers do not survive a refused batch.
        await publisher.stop()
        for letter, message in zip(letters, messages):
            try:
                await publisher.publish([message])
            except RECORD_REFUSED as exc:
                logger.error("the dead-letter topic refused the dead letter of %s:%d offset %d (%r): "
                             "sending it without its value", letter.record.topic, letter.record.partition,
                             letter.record.offset, exc)
                await publisher.stop()
                key, value, headers = header_only_record(letter, names[letter.record.topic])
                await publisher.publish([(topic, key, value, headers)])
                metrics.DEAD_LETTERS_CUT.labels("header-only").inc()

    async def max_bytes(self) -> int:
        """The largest dead letter the DLQ and the producer take: read once per worker."""
        if self._max_bytes is None:
            try:
                topic_max = await (await self._broker()).max_message_bytes(self.topic)
            except (KafkaError, OSError, asyncio.TimeoutError) as exc:
                logger.warning("could not read max.message.bytes of %s (%r): dead letters are cut to %d bytes",
                               self.topic, exc, FALLBACK_DEAD_LETTER_MAX_BYTES)
                topic_max = FALLBACK_DEAD_LETTER_MAX_BYTES
            self._max_bytes = min(topic_max, PRODUCER_MAX_REQUEST_BYTES)
        return self._max_bytes

    async def stop(self) -> None:
        await self._publisher.stop()
