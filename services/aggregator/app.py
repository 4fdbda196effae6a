"""The aggregator's Faust app: the one place that wires topics, the state table, the fold, sinks and timers.

    call-outcomes ─┐                          ┌─► breaker-states (one ServiceState per service per batch)
                   ├─► intake ─► fold (batch) ─┼─► command-results, health-history, breaker-transitions
 breaker-commands ─┘                  │        └─► call-outcomes.dlq (refused records, cut to fit: dead_letters.py)
                                      └─► table "breakers" (changelog-backed; holds per-source offsets)
   timer: due deadlines ─► tick commands on breaker-commands
   health-history ─► history sink ─► PostgreSQL;  command-results ─► config projection ─► PostgreSQL
   metric-rollups (closed minutes) ─► rollup sink ─► metric_rollups (minute, hour, day rows)
   breaker-transitions ─► transition sink ─► circuit_breaker_transitions
     (the sinks read through a consumer group of their own: sink_feed.py)
   timer: open minutes of changed services ─► metric_rollups_live (the partial bucket of every window)

The inputs reach the fold in whole fetches through the intake (intake.py), not through Faust
streams; Faust runs the group, the table's recovery and the timers.

Exactness after a crash: outputs of a batch are acknowledged by Kafka before the table's
changelog records, and those before the batch's input offsets are committed; the fold skips
events at or below the offsets its state remembers. Redelivered records are therefore folded
once, and any output may be repeated but never lost (sinks upsert on natural keys).
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from datetime import datetime, timedelta, timezone

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError
from aiokafka.structs import TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fusebox.core import breaker, rollups
from fusebox.core.codec import dumps, loads
from fusebox.core.commands import TICK, breaker_command
from fusebox.core.topics import (BREAKER_COMMANDS, BREAKER_STATES, CALL_OUTCOMES, CALL_OUTCOMES_DLQ,
                                 BREAKER_TRANSITIONS, COMMAND_RESULTS, HEALTH_HISTORY, METRIC_ROLLUPS)
from fusebox.kafka_security import kafka_client_options, kafka_security
from fusebox.aggregator import metrics
from fusebox.aggregator.dead_letters import dead_letter_record, header_only_record
from fusebox.aggregator.deadlines import Deadlines
from fusebox.aggregator.delivery import RESTART_EXIT_CODE, DeliveryCursor, first_offsets
from fusebox.aggregator.faust_app import AggregatorApp
from fusebox.aggregator.intake import Fetched, Intake
from fusebox.aggregator.rollup_store import live_row
from fusebox.aggregator.outputs import changelog_records, output_messages
from fusebox.aggregator.processor import DeadLetter, InputChunk, process, source_of
from fusebox.aggregator.settings import AggregatorSettings
from fusebox.aggregator.sink_feed import SinkFeed
from fusebox.aggregator.sinks import PostgresSink

logger = logging.getLogger("fusebox.aggregator")

TICK_ISSUER = "fusebox-aggregator"

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


class Aggregator:
    """Holds the wiring of one worker: the Faust app and the resources its tasks share."""

    def __init__(self, settings: AggregatorSettings) -> None:
        self.settings = settings
        prefix = settings.shared.topic_prefix
        self.names = names = {spec.suffix: spec.name(prefix) for spec in
                              (CALL_OUTCOMES, CALL_OUTCOMES_DLQ, BREAKER_COMMANDS, BREAKER_STATES,
                               COMMAND_RESULTS, HEALTH_HISTORY, METRIC_ROLLUPS, BREAKER_TRANSITIONS)}
        self.suffix_of = {name: suffix for suffix, name in self.names.items()}
        self.app = AggregatorApp(
            settings.app_id,
            broker=f"kafka://{settings.shared.kafka_bootstrap}",
            broker_credentials=kafka_security().faust_credentials(),
            store="memory://",
            datadir=settings.data_dir,
            topic_partitions=CALL_OUTCOMES.partitions,
            topic_replication_factor=settings.shared.topic_replication_factor,
            table_standby_replicas=0,
            producer_acks=-1,
            broker_commit_interval=1.0,
            broker_session_timeout=settings.session_timeout_s,
            broker_heartbeat_interval=min(1.0, settings.session_timeout_s / 3),
            consumer_auto_offset_reset="earliest",
            # Larger fetches (per partition), handed over at most 20,000 records at a time: on
            # bench_aggregator's topic 1 MiB/unbounded gave 98k-123k events/s at 410 MiB RSS,
            # 4 MiB/unbounded 139k-142k at 650 MiB, 4 MiB/20,000 106k-120k at 350 MiB.
            consumer_max_fetch_size=4 * 1024 * 1024,
            broker_max_poll_records=20_000,
            web_enabled=True,
            web_bind=settings.web_host,
            web_port=settings.shared.aggregator_port,
            web_in_thread=False,
        )
        self.inputs = {names[CALL_OUTCOMES.suffix], names[BREAKER_COMMANDS.suffix]}
        self.intake = self.app.intake = Intake(self.inputs, settings.max_batch, settings.flush_interval_s,
                                               capacity=settings.max_batch * 2)
        self._folding = asyncio.Lock()  # held while a batch is folded and committed
        self.publisher = Publisher(settings.shared.kafka_bootstrap)
        # Dead letters have a producer of their own: a refused one restarts it (see publish_dead_letters).
        self.dead_letter_publisher = Publisher(settings.shared.kafka_bootstrap)
        self.sink = PostgresSink(settings.shared.database_url, settings.shared.db_schema)
        self.sink_feed = SinkFeed(settings.shared.kafka_bootstrap, f"{settings.app_id}-sinks", {
            names[HEALTH_HISTORY.suffix]: self.sink.write_history,
            names[BREAKER_TRANSITIONS.suffix]: self.sink.write_transitions,
            names[COMMAND_RESULTS.suffix]: lambda values: self.sink.write_configs([loads(v) for v in values]),
            names[METRIC_ROLLUPS.suffix]: lambda values: self.sink.write_rollups([loads(v) for v in values]),
        }, batch=settings.sink_batch)
        self.deadlines = Deadlines()
        # service key -> (the stored record, its decoded state); valid while the record is the same object
        self._decoded: dict[bytes, tuple[bytes, breaker.BreakerState]] = {}
        self.live_dirty: set[str] = set()  # services whose open rollup buckets changed since the last live write
        self.cursor = DeliveryCursor()
        self._broker: BrokerLookups | None = None
        self._dead_letter_max_bytes: int | None = None
        self._wire()

    # ------------------------------------------------------------------ wiring

    def _wire(self) -> None:
        app, names, settings = self.app, self.names, self.settings
        raw = {"key_serializer": "raw", "value_serializer": "raw"}
        # acks=False: Faust neither tracks nor commits these records (the fold commits them), and
        # its stream-liveness checks do not watch partitions that no Faust stream reads.
        inputs = app.topic(names[CALL_OUTCOMES.suffix], names[BREAKER_COMMANDS.suffix], acks=False, **raw)
        self.table = app.Table("breakers", partitions=CALL_OUTCOMES.partitions, key_type=bytes, value_type=bytes)

        app.topics.add(inputs)  # subscribed here; read by the intake, folded by fold_intake

        @app.task
        async def fold_intake():
            try:
                await self.stop_worker_on_failure("folding", self.fold_forever())
            finally:
                await asyncio.shield(self._close_clients())  # even when the worker cancels again

        @app.on_partitions_revoked.connect
        async def finish_folding(sender, revoked, **kwargs):
            # Faust has stopped the flow: drop what waits in the intake (read again from the
            # committed offsets by whoever owns the partitions next) and let a batch being folded
            # finish and commit before the partitions change hands.
            self.intake.discard()
            async with self._folding:
                pass

        @app.task
        async def feed_sinks():
            await self.stop_worker_on_failure("the PostgreSQL sinks", self.sink_feed.run())

        @app.timer(interval=settings.rollup_live_interval_s)
        async def write_live_rollups():
            await self.write_live_rollups()

        @app.timer(interval=600.0, on_leader=True)
        async def expire_rollups():
            now = datetime.now(timezone.utc)
            deleted = await self.sink.delete_expired_rollups(
                now - timedelta(hours=settings.rollup_minute_retention_hours),
                now - timedelta(days=settings.rollup_hour_retention_days))
            if deleted:
                logger.info("retention removed %d metric rollup rows", deleted)

        @app.timer(interval=settings.tick_interval_s)
        async def tick_due_deadlines():
            await self.send_due_ticks(int(time.time() * 1000))

        @app.timer(interval=10.0)
        async def rescan_deadlines():
            self.rescan_deadlines()

        @app.timer(interval=3600.0, on_leader=True)
        async def expire_history():
            cutoff = datetime.now(timezone.utc) - timedelta(days=settings.history_retention_days)
            deleted = await self.sink.delete_expired_history(cutoff)
            if deleted:
                logger.info("retention removed %d history rows older than %s", deleted, cutoff.isoformat())

        @app.page("/metrics")
        async def metrics_page(web, request):
            return web.bytes(generate_latest(metrics.REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])

        @app.page("/healthz")
        async def healthz(web, request):
            return web.json({"status": "ok"})

        @app.page("/readyz")
        async def readyz(web, request):
            ready = app.rebalancing is False and app.tables.recovery.completed.is_set()
            return web.json({"ready": ready}, status=200 if ready else 503)

    async def stop_worker_on_failure(self, what: str, work) -> None:
        """Run a task of the worker; if it fails, stop the worker rather than run on without it.

        Nothing of a failed batch was committed, so the restarted worker reads it again.
        """
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.critical("%s failed, stopping the worker: %r", what, exc, exc_info=True)
            await self.app.crash(exc)
            raise

    # ------------------------------------------------------------------ the hot path

    async def fold_forever(self) -> None:
        while True:
            fetched = await self.intake.take()
            discards = self.intake.discards
            async with self._folding:
                if self.intake.discards == discards:  # not taken before a rebalance
                    await self.fold_fetched(fetched)

    async def fold_fetched(self, fetched: list[Fetched]) -> None:
        """Fold a batch in partition order, then commit its offsets; a hole restarts the worker (delivery.py)."""
        generation = self.app.consumer_generation_id
        if self.cursor.generation != generation:
            self.cursor.start_generation(generation, await self._first_offsets())
        admission = self.cursor.admit(fetched)
        # Held-back chunks (fetched in an older generation) are neither folded nor committed:
        # they are read again from the committed offsets.
        if admission.holes:
            # Nothing of this batch is folded or committed. Restarting from the committed offsets
            # reads the missing records again; what was folded before is skipped by the fold.
            logger.error("input delivery skipped offsets (partition: expected, arrived) %s; restarting "
                         "from the committed offsets", admission.holes)
            self.restart()
            return
        if admission.admitted:
            await self.fold_chunks(admission.admitted)
            await self.commit(admission.admitted)

    async def commit(self, folded: list[Fetched]) -> None:
        """Commit the input offsets of a folded batch (its outputs and states are acknowledged)."""
        offsets = {}
        for chunk in folded:
            offsets[chunk.tp] = max(offsets.get(chunk.tp, 0), chunk.records[-1].offset + 1)
        # A refused commit (the group is rebalancing) only means these records are read again.
        await self.app.consumer._commit(offsets)

    async def _close_clients(self) -> None:
        await self.publisher.stop()
        await self.dead_letter_publisher.stop()
        if self._broker is not None:
            client, self._broker = self._broker, None
            await client.stop()

    def restart(self) -> None:
        """Leave at once, like a crash, asking the supervising `fusebox aggregator` for a new worker."""
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(RESTART_EXIT_CODE)

    async def broker(self) -> BrokerLookups:
        if self._broker is None:
            client = BrokerLookups(self.settings.shared.kafka_bootstrap)
            await client.start()
            self._broker = client
        return self._broker

    async def _first_offsets(self) -> dict:
        """Where each assigned input partition's events must resume in a new generation."""
        assigned = [tp for tp in self.app.consumer.assignment() if tp.topic in self.inputs]
        if not assigned:
            return {}
        broker = await self.broker()
        committed = await broker.committed(self.app.conf.id, assigned)
        log_start = await broker.log_start(assigned)
        applied: dict = {}
        by_source = {source_of(self.suffix_of[tp.topic], tp.partition): tp for tp in assigned}
        table_data = self.table.data
        for key in list(table_data.keys()):
            state = self._load(table_data, key.decode())
            for source, offset in (state.offsets.items() if state is not None else ()):
                tp = by_source.get(source)
                if tp is not None and offset + 1 > applied.get(tp, -1):
                    applied[tp] = offset + 1
        return first_offsets(assigned, committed, applied, log_start)

    async def fold_chunks(self, fetched: list[Fetched]) -> None:
        started = time.perf_counter()
        suffix_of = self.suffix_of
        chunks = [InputChunk(suffix_of[f.tp.topic], f.tp.partition, f.records) for f in fetched]
        table_data = self.table.data
        result = process(chunks, lambda service: self._load(table_data, service), self.settings.rollups,
                         self.settings.max_clock_skew_ms)
        if result.dead_letters:
            await self.publish_dead_letters(result.dead_letters)

        for change in result.changes:
            if change.service_state is not None:
                metrics.STATES_PUBLISHED.inc()
                if change.circuit_changed:
                    metrics.TRANSITIONS.labels(change.service_state["circuit"]["state"]).inc()
        await self.publisher.publish(output_messages(result, self.names))

        # Only after the outputs are acknowledged does the state move on (see module docstring):
        # the table's changelog records go out through the same producer, to the service's own
        # partition, and are acknowledged before the input offsets of this batch are committed.
        changelog = self.table.changelog_topic.get_topic_name()
        stored = changelog_records(result)
        await self.publisher.publish([(changelog, key, record, None) for key, record in stored],
                                     partitions=[change.partition for change in result.changes])
        for (key, record), change in zip(stored, result.changes):
            table_data[key] = record
            self._decoded[key] = (record, change.state)
            state = change.state
            metrics.SERVICE_COUNTERS.update(change.service, state.successful, state.failed, state.rejected,
                                           state.circuit)
            if self.settings.rollups:
                self.live_dirty.add(change.service)
            self.deadlines.set(change.service, change.next_deadline)

        folded_by_topic: dict[str, int] = {}
        for chunk in chunks:
            folded_by_topic[chunk.topic] = folded_by_topic.get(chunk.topic, 0) + len(chunk.records)
        for topic, count in folded_by_topic.items():
            metrics.EVENTS_FOLDED.labels(topic).inc(count)
        metrics.BATCH_SIZE.observe(sum(folded_by_topic.values()))
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        metrics.SERVICES.set(len(table_data))
        self._observe_lag(fetched)

    async def publish_dead_letters(self, letters: list[DeadLetter]) -> None:
        """Send refused records to the DLQ, each cut to fit (dead_letters.py); no record stops the fold.

        Should the DLQ refuse one anyway (its limit lowered since it was read), they go one by one,
        and a refused one again without its value. Any other failure is not the record's: it
        propagates, and nothing of the batch is committed.
        """
        topic, names = self.names[CALL_OUTCOMES_DLQ.suffix], self.names
        max_bytes = await self.dead_letter_max_bytes()
        messages = []
        for letter in letters:
            metrics.DEAD_LETTERS.labels(letter.record.topic, letter.code).inc()
            # Keyed as the source record was, so dead letters spread over the DLQ's partitions.
            key, value, headers = dead_letter_record(letter, names[letter.record.topic], max_bytes)
            if len(value) < len(letter.record.value or b""):
                metrics.DEAD_LETTERS_CUT.labels("cut").inc()
            messages.append((topic, key, value, headers))
        try:
            await self.dead_letter_publisher.publish(messages)
            return
        except KafkaError as exc:
            logger.error("the dead-letter topic refused a batch (%r): sending its %d dead letters one by one",
                         exc, len(messages), exc_info=True)
        # A new producer: the idempotent producer's sequence numbers do not survive a refused batch.
        await self.dead_letter_publisher.stop()
        for letter, message in zip(letters, messages):
            try:
                await self.dead_letter_publisher.publish([message])
            except RECORD_REFUSED as exc:
                logger.error("the dead-letter topic refused the dead letter of %s:%d offset %d (%r): "
                             "sending it without its value", letter.record.topic, letter.record.partition,
                             letter.record.offset, exc)
                await self.dead_letter_publisher.stop()
                key, value, headers = header_only_record(letter, names[letter.record.topic])
                await self.dead_letter_publisher.publish([(topic, key, value, headers)])
                metrics.DEAD_LETTERS_CUT.labels("header-only").inc()

    async def dead_letter_max_bytes(self) -> int:
        """The largest dead letter the DLQ and the producer take: read once per worker."""
        if self._dead_letter_max_bytes is None:
            topic = self.names[CALL_OUTCOMES_DLQ.suffix]
            try:
                topic_max = await (await self.broker()).max_message_bytes(topic)
            except (KafkaError, OSError, asyncio.TimeoutError) as exc:
                logger.warning("could not read max.message.bytes of %s (%r): dead letters are cut to %d bytes",
                               topic, exc, FALLBACK_DEAD_LETTER_MAX_BYTES)
                topic_max = FALLBACK_DEAD_LETTER_MAX_BYTES
            self._dead_letter_max_bytes = min(topic_max, PRODUCER_MAX_REQUEST_BYTES)
        return self._dead_letter_max_bytes

    def _load(self, table_data, service: str) -> breaker.BreakerState | None:
        """The stored state of a service, decoded once per stored record (the fold never mutates it)."""
        key = service.encode()
        raw = table_data.get(key)
        if raw is None:
            return None
        cached = self._decoded.get(key)
        if cached is not None and cached[0] is raw:
            return cached[1]
        state = breaker.state_from_record(loads(raw))
        self._decoded[key] = (raw, state)
        return state

    def _observe_lag(self, fetched: list[Fetched]) -> None:
        last = {chunk.tp: chunk.records[-1].offset for chunk in fetched}
        consumer = self.app.consumer
        for tp, offset in last.items():
            try:
                highwater = consumer.highwater(tp)
            except Exception:
                continue
            if highwater is not None:
                metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(highwater - offset - 1, 0))

    # ------------------------------------------------------------------ time

    async def send_due_ticks(self, now_ms: int) -> None:
        """Produce a tick for every service whose next deadline has passed (once per deadline)."""
        due = self.deadlines.due(now_ms)
        if not due:
            return
        topic = self.names[BREAKER_COMMANDS.suffix]
        messages = []
        for service, deadline in due:
            command = breaker_command(str(uuid.uuid4()), service, TICK, max(now_ms, deadline), TICK_ISSUER)
            messages.append((topic, service.encode(), dumps(command), None))
        await self.publisher.publish(messages)
        self.deadlines.mark_ticked(due)
        metrics.TICKS_SENT.inc(len(due))

    def rescan_deadlines(self) -> None:
        """Rebuild the deadline index and the per-service metrics from the table: after a rebalance
        it holds other services, recovered from the changelog rather than folded here."""
        deadlines: dict[str, int] = {}
        table_data = self.table.data
        counters = metrics.SERVICE_COUNTERS
        for key in list(table_data.keys()):
            service = key.decode()
            state = self._load(table_data, service)
            if state is None:
                continue
            counters.update(service, state.successful, state.failed, state.rejected, state.circuit)
            deadline = breaker.next_deadline(state)
            if deadline is not None:
                deadlines[service] = deadline
        self.deadlines.rebuild(deadlines)
        counters.keep_only({key.decode() for key in self.table.data.keys()})

    async def write_live_rollups(self) -> None:
        """Write the open minutes and pending corrections of the services changed since the last write."""
        if not self.live_dirty:
            return
        services, self.live_dirty = sorted(self.live_dirty), set()
        rows = []
        for service in services:
            state = self._load(self.table.data, service)
            if state is not None:
                rows += [live_row(service, rollups.rollup_value(service, minute, bucket))
                         for minute, bucket in rollups.pending(state.rollups)]
        try:
            await self.sink.write_live_rollups(rows)
        except BaseException:
            self.live_dirty.update(services)  # written next time
            raise


def create_aggregator(settings: AggregatorSettings | None = None) -> Aggregator:
    return Aggregator(settings or AggregatorSettings.from_env())
