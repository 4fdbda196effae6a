"""The shadow breaker: a candidate config folded beside the real one, never enforced.

A state's `shadow` is a BreakerState of its own (docs/shadow-config.md). `fold_service` folds
the real state with `fold_batch`, and the shadow with the same `fold_batch` over the same call
outcomes and ticks (the operators' resets and config updates are the real breaker's). A
`shadow-config.*` command is folded by the real state alone (commands.py), so the run of events
is cut there: the shadow folded up to it is the one the command sees, and a shadow it sets
starts from the real state at that point. Only the shadow's transitions leave it, marked
`"shadow": true`.

With no shadow set, `fold_service` is `fold_batch` and a look at what it emitted: a shadow that a
command of the run set (even one cleared again) is found there, and the run is folded again, cut
at its commands.
"""
from __future__ import annotations

from fusebox.core.commands import SHADOW_COMMAND_TYPES, SHADOW_SET, TICK
from fusebox.core.breaker.batch import fold_batch
from fusebox.core.breaker.commands import COMMAND_RESULTS, mark_shadow
from fusebox.core.breaker.state import BreakerState
from fusebox.core.breaker.transitions import Emitted, touch

Event = tuple[str, int, dict]


def fold_service(state: BreakerState, events: list[Event], rollups: bool = True) -> tuple[BreakerState, Emitted]:
    """`fold_batch`, with the state's shadow breaker folded beside it over the same events."""
    if state.shadow is None:
        after, emitted = fold_batch(state, events, rollups)
        if after.shadow is None and not _set_a_shadow(emitted):
            return after, emitted
    return _fold_cut_at_shadow_commands(state, events, rollups)


def _set_a_shadow(emitted: Emitted) -> bool:
    """Did a command of the run set a shadow (which a later one may have cleared again)?"""
    for topic, value in emitted:
        if topic == COMMAND_RESULTS and value["type"] == SHADOW_SET and value["ok"]:
            return True
    return False


def _is_shadow_command(body: dict) -> bool:
    return "outcome" not in body and body.get("type") in SHADOW_COMMAND_TYPES


def _fold_cut_at_shadow_commands(state: BreakerState, events: list[Event],
                                 rollups: bool) -> tuple[BreakerState, Emitted]:
    out: Emitted = []
    start = 0
    for index, (_source, _offset, body) in enumerate(events):
        if not _is_shadow_command(body):
            continue
        state = _fold_run(state, events[start:index], rollups, out)
        state, emitted = fold_batch(state, events[index:index + 1], rollups)
        out.extend(emitted)
        start = index + 1
    return _fold_run(state, events[start:], rollups, out), out


def _fold_run(state: BreakerState, events: list[Event], rollups: bool, out: Emitted) -> BreakerState:
    """Fold a run with no shadow command: the real state, then its shadow (a new state either way).

    A tick is folded on its own: one that moves only the shadow still changes the state, which
    then takes a new version (and is published), whatever else the run holds."""
    if state.shadow is None:
        after, emitted = fold_batch(state, events, rollups)
        out.extend(emitted)
        return after
    start = 0
    for index, (_source, _offset, body) in enumerate(events):
        if "outcome" not in body and body.get("type") == TICK:
            state = _fold_beside(state, events[start:index], rollups, out, False)
            state = _fold_beside(state, events[index:index + 1], rollups, out, True)
            start = index + 1
    return _fold_beside(state, events[start:], rollups, out, False)


def _fold_beside(state: BreakerState, events: list[Event], rollups: bool, out: Emitted,
                 tick: bool) -> BreakerState:
    after, emitted = fold_batch(state, events, rollups)
    out.extend(emitted)
    shadow = state.shadow
    seen = events if tick else [event for event in events if "outcome" in event[2]]
    folded, shadow_emitted = fold_batch(shadow, seen, rollups=False)
    mark_shadow(folded, shadow_emitted, out)
    after.shadow = folded
    if tick and folded.version != shadow.version and after.version == state.version:
        touch(after)
    return after
