"""The state table as the fold sees it: each service's stored record, decoded once, and what is derived from it.

The table "breakers" holds one stored record per service (the fold's state, as bytes). Decoding
one costs far more than folding an event, so each record is decoded once and kept beside it
while the table holds that same record object; the fold never mutates a decoded state.
"""
from __future__ import annotations

from collections.abc import Iterator

from fusebox.aggregator import metrics
from fusebox.aggregator.deadlines import Deadlines
from fusebox.aggregator.faust_bridge import TableStore
from fusebox.core import breaker
from fusebox.core.codec import loads


class StoredStates:
    def __init__(self, store: TableStore) -> None:
        self._store = store  # service key -> stored record
        # service key -> (the stored record, its decoded state); valid while the record is the same object
        self._decoded: dict[bytes, tuple[bytes, breaker.BreakerState]] = {}

    def __len__(self) -> int:
        return len(self._store)

    def services(self) -> Iterator[str]:
        return (key.decode() for key in self._store.keys())

    def load(self, service: str) -> breaker.BreakerState | None:
        """The stored state of a service, decoded once per stored record (the fold never mutates it)."""
        key = service.encode()
        raw = self._store.get(key)
        if raw is None:
            return None
        cached = self._decoded.get(key)
        if cached is not None and cached[0] is raw:
            return cached[1]
        state = breaker.state_from_record(loads(raw))
        self._decoded[key] = (raw, state)
        return state

    def put(self, key: bytes, record: bytes, state: breaker.BreakerState) -> None:
        """Store a record whose changelog record is sent, with its decoded state (the fold loop waits for
        its acknowledgement before committing the batch's offsets or sending the next batch's records)."""
        self._store.put(key, record)
        self._decoded[key] = (record, state)

    def applied_offsets(self, by_source: dict) -> dict:
        """One past the highest input offset the stored states have applied, per partition of `by_source`
        (fold source -> partition)."""
        applied: dict = {}
        for service in self.services():
            state = self.load(service)
            for source, offset in (state.offsets.items() if state is not None else ()):
                tp = by_source.get(source)
                if tp is not None and offset + 1 > applied.get(tp, -1):
                    applied[tp] = offset + 1
        return applied


def rebuild_indexes(states: StoredStates, deadlines: Deadlines) -> None:
    """Rebuild the deadline index and the per-service metrics from the table: after a rebalance
    it holds other services, recovered from the changelog rather than folded here."""
    due: dict[str, int] = {}
    counters = metrics.SERVICE_COUNTERS
    held = set()
    for service in states.services():
        held.add(service)
        state = states.load(service)
        if state is None:
            continue
        counters.update(service, state.successful, state.failed, state.rejected, state.circuit)
        deadline = breaker.next_deadline(state)
        if deadline is not None:
            due[service] = deadline
    deadlines.rebuild(due)
    counters.keep_only(held)
