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

The fold loop and its order of sends (what makes counts exact after a crash) are in fold_loop.py;
the producers in producers.py; the table as the fold sees it in stored_states.py.
"""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta, timezone

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fusebox.core.codec import loads
from fusebox.core.topics import (BREAKER_COMMANDS, BREAKER_STATES, CALL_OUTCOMES, CALL_OUTCOMES_DLQ,
                                 BREAKER_TRANSITIONS, COMMAND_RESULTS, HEALTH_HISTORY, METRIC_ROLLUPS)
from fusebox.kafka_security import kafka_security
from fusebox.aggregator import metrics
from fusebox.aggregator.deadlines import Deadlines
from fusebox.aggregator.faust_bridge import AggregatorApp, FaustBridge
from fusebox.aggregator.fold_loop import FoldLoop
from fusebox.aggregator.intake import Intake
from fusebox.aggregator.live_rollups import LiveRollups
from fusebox.aggregator.producers import BrokerLookups, DeadLetterSender, Publisher
from fusebox.aggregator.settings import AggregatorSettings
from fusebox.aggregator.sink_feed import SinkFeed
from fusebox.aggregator.sinks import PostgresSink
from fusebox.aggregator.stored_states import StoredStates, rebuild_indexes
from fusebox.aggregator.ticks import TickSender

logger = logging.getLogger("fusebox.aggregator")


class Aggregator:
    """Holds the wiring of one worker: the Faust app and the resources its tasks share."""

    def __init__(self, settings: AggregatorSettings) -> None:
        self.settings = settings
        prefix = settings.shared.topic_prefix
        self.names = names = {spec.suffix: spec.name(prefix) for spec in
                              (CALL_OUTCOMES, CALL_OUTCOMES_DLQ, BREAKER_COMMANDS, BREAKER_STATES,
                               COMMAND_RESULTS, HEALTH_HISTORY, METRIC_ROLLUPS, BREAKER_TRANSITIONS)}
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
        raw = {"key_serializer": "raw", "value_serializer": "raw"}
        # acks=False: Faust neither tracks nor commits these records (the fold commits them), and
        # its stream-liveness checks do not watch partitions that no Faust stream reads.
        self.input_topics = self.app.topic(names[CALL_OUTCOMES.suffix], names[BREAKER_COMMANDS.suffix], acks=False,
                                           **raw)
        self.table = self.app.Table("breakers", partitions=CALL_OUTCOMES.partitions, key_type=bytes,
                                    value_type=bytes)
        self.publisher = Publisher(settings.shared.kafka_bootstrap)
        # The table's changelog has a producer of its own: a batch's changelog records are in flight
        # while the next batch's outputs are published, and one producer would hold those outputs'
        # acknowledgement until the (larger) changelog batch is appended too.
        self.changelog_publisher = Publisher(settings.shared.kafka_bootstrap)
        self.dead_letters = DeadLetterSender(settings.shared.kafka_bootstrap, names[CALL_OUTCOMES_DLQ.suffix],
                                             names, self.broker)
        self.sink = PostgresSink(settings.shared.database_url, settings.shared.db_schema)
        self.sink_feed = SinkFeed(settings.shared.kafka_bootstrap, f"{settings.app_id}-sinks", {
            names[HEALTH_HISTORY.suffix]: self.sink.write_history,
            names[BREAKER_TRANSITIONS.suffix]: self.sink.write_transitions,
            names[COMMAND_RESULTS.suffix]: lambda values: self.sink.write_configs([loads(v) for v in values]),
            names[METRIC_ROLLUPS.suffix]: lambda values: self.sink.write_rollups([loads(v) for v in values]),
        }, batch=settings.sink_batch)
        self.bridge = FaustBridge(self.app, self.table)
        self.states = StoredStates(self.bridge.store)
        self.deadlines = Deadlines()
        self.ticks = TickSender(self.deadlines, self.publisher, names[BREAKER_COMMANDS.suffix])
        self.live_rollups = LiveRollups(self.states, self.sink)
        self.fold_loop = FoldLoop(self.bridge, settings, names, self.inputs, self.intake, self.states,
                                  self.publisher, self.changelog_publisher, self.dead_letters, self.deadlines,
                                  self.live_rollups, self.broker)
        self._broker: BrokerLookups | None = None
        self._wire()

    def _wire(self) -> None:
        app, settings = self.app, self.settings
        app.topics.add(self.input_topics)  # subscribed here; read by the intake, folded by fold_intake

        @app.task
        async def fold_intake():
            try:
                await self.stop_worker_on_failure("folding", self.fold_loop.run())
            finally:
                await asyncio.shield(self._close_clients())  # even when the worker cancels again

        self.bridge.on_revoked(self.fold_loop.finish_folding)

        @app.task
        async def feed_sinks():
            await self.stop_worker_on_failure("the PostgreSQL sinks", self.sink_feed.run())

        @app.timer(interval=settings.rollup_live_interval_s)
        async def write_live_rollups():
            await self.live_rollups.write()

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
            await self.ticks.send_due(int(time.time() * 1000))

        @self.bridge.on_recovered
        async def index_recovered_states():
            # Once the assigned changelog partitions are in the table and before the inputs
            # resume: the services this worker holds now get their deadlines at once.
            rebuild_indexes(self.states, self.deadlines)

        @app.timer(interval=10.0)
        async def rescan_deadlines():
            rebuild_indexes(self.states, self.deadlines)

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
            ready = self.bridge.ready()
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


    async def broker(self) -> BrokerLookups:
        if self._broker is None:
            client = BrokerLookups(self.settings.shared.kafka_bootstrap)
            await client.start()
            self._broker = client
        return self._broker

    async def _close_clients(self) -> None:
        await self.publisher.stop()
        await self.changelog_publisher.stop()
        await self.dead_letters.stop()
        if self._broker is not None:
            client, self._broker = self._broker, None
            await client.stop()


def create_aggregator(settings: AggregatorSettings | None = None) -> Aggregator:
    return Aggregator(settings or AggregatorSettings.from_env())
