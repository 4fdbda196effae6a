"""The open minutes of the rolling metrics, written to `metric_rollups_live` for the services that changed."""
from __future__ import annotations

from fusebox.aggregator.rollup_store import live_row
from fusebox.aggregator.stored_states import StoredStates
from fusebox.core import rollups


class LiveRollups:
    def __init__(self, states: StoredStates, sink) -> None:
        self._states = states
        self._sink = sink
        self._changed: set[str] = set()  # services whose open rollup buckets changed since the last write

    def changed(self, service: str) -> None:
        self._changed.add(service)

    async def write(self) -> None:
        """Write the open minutes and pending corrections of the services changed since the last write."""
        if not self._changed:
            return
        services, self._changed = sorted(self._changed), set()
        rows = []
        for service in services:
            state = self._states.load(service)
            if state is not None:
                rows += [live_row(service, rollups.rollup_value(service, minute, bucket))
                         for minute, bucket in rollups.pending(state.rollups)]
        try:
            await self._sink.write_live_rollups(rows)
        except BaseException:
            self._changed.update(services)  # written next time
            raise
