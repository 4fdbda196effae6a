"""Every use of Faust's internals by the aggregator, in one place: an upgrade of faust-streaming touches this file.

The aggregator's hot path runs below Faust's per-event streams (intake.py, fold_loop.py); Faust
runs the consumer group, the state table's recovery, the rebalance hooks, the timers and the web
port (docs/faust.md). What the rest of the worker needs of Faust beyond its public decorators goes
through here:

    AggregatorApp / IntakeTransport / IntakeConsumer   the input topics' fetches to the Intake
    FaustBridge.generation, .assignment, .group        the consumer group as the delivery cursor needs it
    FaustBridge.commit                                 the input offsets, committed by the fold loop
    FaustBridge.store (TableStore)                     the state table's get / put / keys / len
    FaustBridge.changelog_messages                     the table's changelog records, produced by hand
    FaustBridge.on_revoked, .on_recovered, .ready      the rebalance hooks and readiness

The contract, as faust-streaming 0.15.3 (pinned in pyproject.toml) keeps it:

- `faust.transport.drivers.aiokafka.Consumer.getmany` is rewritten by `IntakeConsumer.getmany`
  from Faust's own, with the same helpers: `_wait_next_records(timeout)` returns (records by
  partition, active partitions) or (None, ...), `_buffered_partitions` holds partitions with
  records already fetched, `_to_message(tp, record)` builds Faust's Message, `scheduler.iterate`
  orders the rest; `flow_active`, `should_stop`, `perform_seek`, `highwater` and
  `app.monitor.track_tp_end_offset` behave as in Faust's loop. The inputs are diverted before
  any Message is built; everything else (the table's changelog) goes on to Faust's recovery.
- `App._new_transport()` builds the transport whose `Consumer` class the app uses: overriding it
  installs `IntakeConsumer` without patching Faust.
- `Consumer._commit(offsets)` commits {TP: next offset} for the group, outside Faust's acks (the
  input topics are declared with `acks=False`, so Faust never commits them itself); a refused
  commit (a rebalance) only means the records are read again.
- `Table.data` is the table's store, a mutable mapping of raw keys to raw values that Faust's
  recovery fills from the changelog; writing it does not produce a changelog record, so the
  worker produces them itself (`changelog_messages`) to `table.changelog_topic.get_topic_name()`,
  on the key's own partition, and writes `data` only once Kafka has acknowledged them.
- `Table.on_recover(callback)` is awaited after the assigned changelog partitions are in the
  store and before the input partitions resume; `App.on_partitions_revoked` is sent once the flow
  has stopped; `app.consumer_generation_id` changes with every assignment;
  `app.tables.recovery.completed` is set once the inputs are seeked to the committed offsets.

Tests that fail if one of these changes behaviour: `tests/unit/test_intake.py` and
`tests/unit/test_faust_bridge.py` (the pure parts), `tests/integration/aggregator/` (folding
from the real broker, kill -9 mid-stream, workers sharing partitions, replay, PostgreSQL
outage), `tests/chaos/test_aggregator_kill9.py`, and
`tests/integration/foundation/test_faust_runs_on_this_broker.py` (a table changelog on this Kafka).
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from fusebox.aggregator.intake import Fetched, Intake


class IntakeConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, with the input topics' records sent to the app's `Intake`."""

    async def getmany(self, timeout: float) -> AsyncIterator:
        records, active_partitions = await self._wait_next_records(timeout)
        generation_id = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        if not self.flow_active:
            # As Faust does: records fetched while the flow is stopped are read again after a seek.
            try:
                await self.perform_seek()
            except Exception as exc:
                self.log.warning("exception performing seek when flow not active %r", exc)
            return
        intake: Intake = self.app.intake
        fetched: list[Fetched] = []
        others = {}
        buffered = self._buffered_partitions
        for tp, tp_records in records.items():
            if active_partitions is not None and tp not in active_partitions and tp not in buffered:
                continue
            if tp.topic in intake.topics:
                step = intake.max_batch  # a fetch of compressed batches can hold far more records
                fetched += [Fetched(tp, generation_id, tp_records[i:i + step]) for i in range(0, len(tp_records), step)]
            else:
                others[tp] = tp_records
        if fetched:
            # A rebalance stops the flow and discards the intake; what was fetched before it is
            # read again from the committed offsets, so it must not slip in afterwards.
            await intake.put(fetched, lambda: self.flow_active and self.app.consumer_generation_id == generation_id)
        to_message = self._to_message
        for tp, record in self.scheduler.iterate(others):
            if not self.flow_active or self.app.consumer_generation_id != generation_id:
                break
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            yield tp, to_message(tp, record)


class IntakeTransport(faust_aiokafka.Transport):
    Consumer = IntakeConsumer


class AggregatorApp(faust.App):
    """A Faust app whose consumer feeds the input topics to `self.intake` (set before it starts)."""

    intake: Intake

    def _new_transport(self):
        return IntakeTransport(self.conf.broker_consumer, self)


class TableStore:
    """The state table's store: service key -> stored record (`Table.data`, looked up on each use)."""

    def __init__(self, table) -> None:
        self._table = table

    def __len__(self) -> int:
        return len(self._table.data)

    def get(self, key: bytes) -> bytes | None:
        return self._table.data.get(key)

    def put(self, key: bytes, record: bytes) -> None:
        """Store a record whose changelog record is sent (`changelog_messages`; see fold_loop.py)."""
        self._table.data[key] = record

    def keys(self) -> list[bytes]:
        return list(self._table.data.keys())


def commit_offsets(folded: Iterable[Fetched]) -> dict:
    """{partition: the next offset to read} for fetched chunks that were folded."""
    offsets: dict = {}
    for chunk in folded:
        offsets[chunk.tp] = max(offsets.get(chunk.tp, 0), chunk.records[-1].offset + 1)
    return offsets


class FaustBridge:
    """What the worker needs of its Faust app and state table beyond Faust's public decorators."""

    def __init__(self, app: AggregatorApp, table) -> None:
        self.app = app
        self.table = table
        self.store = TableStore(table)

    @property
    def group(self) -> str:
        return self.app.conf.id

    @property
    def generation(self) -> int:
        return self.app.consumer_generation_id

    def assignment(self) -> Iterator:
        return iter(self.app.consumer.assignment())

    def highwater(self, tp) -> int | None:
        return self.app.consumer.highwater(tp)

    async def commit(self, offsets: dict) -> None:
        """Commit {partition: the next offset to read} (see `commit_offsets`)."""
        await self.app.consumer._commit(offsets)

    def changelog_messages(self, stored: Sequence[tuple[bytes, bytes]]) -> list[tuple[str, bytes, bytes, None]]:
        """The table's changelog records of `stored` (key, record); each goes to its key's own
        partition of the changelog, the partition its service's inputs are read from."""
        changelog = self.table.changelog_topic.get_topic_name()
        return [(changelog, key, record, None) for key, record in stored]

    def on_revoked(self, callback: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """Await `callback` once Faust has stopped the flow for a revocation."""
        async def partitions_revoked(sender, revoked, **kwargs):
            await callback()
        self.app.on_partitions_revoked.connect(partitions_revoked)
        return callback

    def on_recovered(self, callback: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """Await `callback` once the assigned changelog partitions are in the table, before the inputs resume."""
        self.table.on_recover(callback)
        return callback

    def ready(self) -> bool:
        return self.app.rebalancing is False and self.app.tables.recovery.completed.is_set()
