"""Where a command lands among a service's outcomes, and how a re-fold puts it back there.

Outcomes and commands arrive on two topics, so their interleaving is decided at fold time, by
the worker that folds them. Each CommandResult carries `appliedAfter`: the last call-outcomes
offset of that service folded before the command (`{source: offset}`, empty when none was).
`fold_in_command_order` records it (folding with `fold_service`, so a shadow breaker is folded too); `CommandQueue` is its inverse: given the commands with their
`appliedAfter` and the outcomes in log order, it yields the same interleaving again, so that
`fusebox replay` re-folds deterministically.

    outcomes   o5 o6 o7 o8            fold: o5 o6 [c1] o7 o8 [c2]
    commands   c1 c2                  c1.appliedAfter = {call-outcomes:0: 6}
                                      c2.appliedAfter = {call-outcomes:0: 8}
    replay:  c1 goes before the first outcome with offset > 6 (o7); c2 after the last one.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from fusebox.core.topics import BREAKER_COMMANDS, CALL_OUTCOMES
from fusebox.core.breaker.shadow import fold_service
from fusebox.core.breaker.commands import COMMAND_RESULTS
from fusebox.core.breaker.state import BreakerState
from fusebox.core.breaker.transitions import Emitted

OUTCOME_SOURCE = CALL_OUTCOMES.suffix
COMMAND_SOURCE = BREAKER_COMMANDS.suffix

Event = tuple[str, int, dict]


def outcome_positions(offsets: dict[str, int]) -> dict[str, int]:
    """The outcome sources of a state's offsets: what `appliedAfter` records."""
    return {source: offset for source, offset in offsets.items() if source.startswith(OUTCOME_SOURCE)}


def fold_in_command_order(state: BreakerState, events: list[Event],
                          rollups: bool = True) -> tuple[BreakerState, Emitted]:
    """Fold a service's events, recording in each CommandResult where its command landed."""
    emitted: Emitted = []
    run_start = 0
    for index, (source, _offset, _body) in enumerate(events):
        if not source.startswith(COMMAND_SOURCE):
            continue
        if index > run_start:
            state, out = fold_service(state, events[run_start:index], rollups)
            emitted.extend(out)
        applied_after = state.offsets
        state, out = fold_service(state, events[index:index + 1], rollups)
        for topic, value in out:
            if topic == COMMAND_RESULTS:
                value = {**value, "appliedAfter": outcome_positions(applied_after)}
            emitted.append((topic, value))
        run_start = index + 1
    if run_start < len(events):
        state, out = fold_service(state, events[run_start:], rollups)
        emitted.extend(out)
    return state, emitted


def position_of(applied_after: dict[str, int]) -> int:
    """The outcome offset a command follows (-1: before any outcome)."""
    return max(applied_after.values(), default=-1)


class CommandQueue:
    """Commands per service in log order, each waiting for its place among the outcomes."""

    def __init__(self) -> None:
        self._queues: dict[str, list[tuple[int, Any]]] = defaultdict(list)

    def add(self, service: str, applied_after: dict[str, int], command: Any) -> None:
        """Queue a command of `service` (in log order) that was applied after `applied_after`."""
        self._queues[service].append((position_of(applied_after), command))

    def due_before(self, service: str, outcome_offset: int) -> list[Any]:
        """Take the commands that were folded before the outcome at `outcome_offset`."""
        queue = self._queues.get(service)
        due = []
        while queue and queue[0][0] < outcome_offset:
            due.append(queue.pop(0)[1])
        return due

    def next_position(self, service: str) -> int | None:
        """The outcome offset the next waiting command of `service` follows (None: none waits)."""
        queue = self._queues.get(service)
        return queue[0][0] if queue else None

    def services(self) -> set[str]:
        return {service for service, queue in self._queues.items() if queue}

    def remaining(self, service: str) -> list[Any]:
        """Take the commands folded after every outcome of `service` seen."""
        queue = self._queues.pop(service, [])
        return [command for _position, command in queue]
