"""The hot path of one worker: fetch → admit → fold → publish → commit, one batch at a time.

    Intake.take ─► DeliveryCursor.admit ─► process (the pure fold) ─► dead letters, outputs
                                                                  ─► changelog records, table
                                                                  ─► commit of the input offsets

Exactness after a crash: outputs of a batch are acknowledged by Kafka before the table's
changelog records, and those before the batch's input offsets are committed; the fold skips
events at or below the offsets its state remembers. Redelivered records are therefore folded
once, and any output may be repeated but never lost (sinks upsert on natural keys).

Only the outputs are waited for before the next batch: the changelog records of a batch, and
then the commit of its offsets, go on while the next batch is folded and its outputs published.
The fold reads the states it has just sent (the table in memory is ahead of its changelog by at
most one batch), the next batch's changelog records wait for the acknowledgement of these, and
the commit of the offsets for both (`OffsetCommits`: one commit in flight, in order). A
crash loses at most what was not acknowledged, which the fold then reads and folds again, and
outputs may repeat, as above; a revocation waits for all of it.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable

from fusebox.aggregator import metrics
from fusebox.aggregator.deadlines import Deadlines
from fusebox.aggregator.delivery import RESTART_EXIT_CODE, DeliveryCursor, first_offsets
from fusebox.aggregator.faust_bridge import FaustBridge, commit_offsets
from fusebox.aggregator.intake import Fetched, Intake
from fusebox.aggregator.live_rollups import LiveRollups
from fusebox.aggregator.outputs import changelog_records, output_messages
from fusebox.aggregator.processor import InputChunk, process, source_of
from fusebox.aggregator.producers import DeadLetterSender, Publisher
from fusebox.aggregator.settings import AggregatorSettings
from fusebox.aggregator.stored_states import StoredStates

logger = logging.getLogger("fusebox.aggregator")


class FoldLoop:
    def __init__(self, bridge: FaustBridge, settings: AggregatorSettings, names: dict[str, str], inputs: set[str],
                 intake: Intake, states: StoredStates, publisher: Publisher, changelog_publisher: Publisher,
                 dead_letters: DeadLetterSender,
                 deadlines: Deadlines, live_rollups: LiveRollups, broker) -> None:
        self.bridge = bridge
        self.settings = settings
        self.names = names
        self.suffix_of = {name: suffix for suffix, name in names.items()}
        self.inputs = inputs
        self.intake = intake
        self.states = states
        self.publisher = publisher
        self.changelog_publisher = changelog_publisher
        self.dead_letters = dead_letters
        self.deadlines = deadlines
        self.live_rollups = live_rollups
        self._broker = broker  # async () -> BrokerLookups
        self.cursor = DeliveryCursor()
        self.commits = OffsetCommits(bridge.commit)
        self._folding = asyncio.Lock()  # held while a batch is folded
        self._storing: asyncio.Future | None = None  # the last batch's changelog records, then its commit

    async def run(self) -> None:
        while True:
            take = asyncio.ensure_future(self.intake.take())
            try:
                while not take.done():
                    storing = self._storing
                    if storing is not None and storing.done():
                        storing.result()  # a failed changelog send stops the worker, even when idle
                        storing = None
                    await asyncio.wait([take] if storing is None else [take, storing],
                                       return_when=asyncio.FIRST_COMPLETED)
            finally:
                take.cancel()
            fetched = take.result()
            discards = self.intake.discards
            async with self._folding:
                if self.intake.discards == discards:  # not taken before a rebalance
                    await self.fold_fetched(fetched)

    async def finish_folding(self) -> None:
        """On revocation: Faust has stopped the flow. Drop what waits in the intake (read again from
        the committed offsets by whoever owns the partitions next) and let a batch being folded
        finish and commit before the partitions change hands."""
        self.intake.discard()
        async with self._folding:
            if self._storing is not None:
                await self._storing
            await self.commits.settled()

    async def fold_fetched(self, fetched: list[Fetched]) -> None:
        """Fold a batch in partition order, then commit its offsets; a hole restarts the worker (delivery.py)."""
        generation = self.bridge.generation
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
            restart()
            return
        if admission.admitted:
            await self.fold_chunks(admission.admitted)

    async def _first_offsets(self) -> dict:
        """Where each assigned input partition's events must resume in a new generation."""
        assigned = [tp for tp in self.bridge.assignment() if tp.topic in self.inputs]
        if not assigned:
            return {}
        broker = await self._broker()
        committed = await broker.committed(self.bridge.group, assigned)
        log_start = await broker.log_start(assigned)
        by_source = {source_of(self.suffix_of[tp.topic], tp.partition): tp for tp in assigned}
        return first_offsets(assigned, committed, self.states.applied_offsets(by_source), log_start)

    async def fold_chunks(self, fetched: list[Fetched]) -> None:
        started = time.perf_counter()
        suffix_of = self.suffix_of
        chunks = [InputChunk(suffix_of[f.tp.topic], f.tp.partition, f.records) for f in fetched]
        states = self.states
        result = process(chunks, states.load, self.settings.rollups, self.settings.max_clock_skew_ms)
        if result.dead_letters:
            await self.dead_letters.send(result.dead_letters)

        for change in result.changes:
            if change.service_state is not None:
                metrics.STATES_PUBLISHED.inc()
                if change.circuit_changed:
                    metrics.TRANSITIONS.labels(change.service_state["circuit"]["state"]).inc()
        await self.publisher.publish(output_messages(result, self.names))

        # Only after the outputs are acknowledged does the state move on (see module docstring):
        # the table's changelog records go out (through a producer of their own) to the service's
        # own partition, after the previous batch's, and are acknowledged before the input offsets
        # of this batch are committed.
        stored = changelog_records(result)
        if self._storing is not None:
            await self._storing
        self._storing = asyncio.ensure_future(self._store(
            self.bridge.changelog_messages(stored), [change.partition for change in result.changes], fetched))
        for (key, record), change in zip(stored, result.changes):
            states.put(key, record, change.state)
            state = change.state
            metrics.SERVICE_COUNTERS.update(change.service, state.successful, state.failed, state.rejected,
                                           state.circuit)
            if self.settings.rollups:
                self.live_rollups.changed(change.service)
            self.deadlines.set(change.service, change.next_deadline)

        folded_by_topic: dict[str, int] = {}
        for chunk in chunks:
            folded_by_topic[chunk.topic] = folded_by_topic.get(chunk.topic, 0) + len(chunk.records)
        for topic, count in folded_by_topic.items():
            metrics.EVENTS_FOLDED.labels(topic).inc(count)
        metrics.BATCH_SIZE.observe(sum(folded_by_topic.values()))
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        metrics.SERVICES.set(len(states))
        self._observe_lag(fetched)

    async def _store(self, changelog: list, partitions: list[int], folded: list[Fetched]) -> None:
        await self.changelog_publisher.publish(changelog, partitions=partitions)
        self.commits.add(folded)

    def _observe_lag(self, fetched: list[Fetched]) -> None:
        last = {chunk.tp: chunk.records[-1].offset for chunk in fetched}
        bridge = self.bridge
        for tp, offset in last.items():
            try:
                highwater = bridge.highwater(tp)
            except Exception:
                continue
            if highwater is not None:
                metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(highwater - offset - 1, 0))


class OffsetCommits:
    """The input offsets of folded batches (outputs and states acknowledged), committed in the
    background: one commit in flight at a time, and what is added meanwhile goes in the next one.
    A commit that raises stops the fold as it did when the fold awaited it: at the next `add`."""

    def __init__(self, commit: Callable[[dict], Awaitable[None]]) -> None:
        self._commit = commit
        self._waiting: dict = {}  # partition -> the next offset to read
        self._task: asyncio.Task | None = None

    def add(self, folded: list[Fetched]) -> None:
        waiting = self._waiting
        for tp, offset in commit_offsets(folded).items():
            if offset > waiting.get(tp, -1):
                waiting[tp] = offset
        task = self._task
        if task is None or task.done():
            if task is not None and task.exception() is not None:
                raise task.exception()
            self._task = asyncio.ensure_future(self._drain())

    async def settled(self) -> None:
        """Return once every offset added so far is committed."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _drain(self) -> None:
        # A refused commit (the group is rebalancing) only means these records are read again.
        while self._waiting:
            offsets, self._waiting = self._waiting, {}
            await self._commit(offsets)


def restart() -> None:
    """Leave at once, like a crash, asking the supervising `fusebox aggregator` for a new worker."""
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(RESTART_EXIT_CODE)
