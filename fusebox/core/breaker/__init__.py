"""The breaker fold: one service's circuit, status, counters and health history, from its log alone.

Pure: no clock, no I/O, no randomness. Time is the largest event time seen so far (an
outcome's `ts`, a command's `issuedAt`); an older event arriving late is counted but never
moves time back. Semantics, rule by rule: docs/breaker-semantics.md.

                      failureCount >= failureThreshold (a new incident)
          ┌────────┐ ─────────────────────────────────────────────────► ┌──────┐
          │ closed │                                                    │ open │
          └────────┘ ◄─────────────┐                                    └──────┘
              ▲     requestLimit   │       event time >= openedAt +      │   ▲
              │     consecutive    │       resetTimeoutMs, or            │   │ first failure or
              │     successes      │       reset(force=false)            ▼   │ timeout (same incident)
              │                    │                                ┌───────────┐
              │                    └─────────────────────────────── │ half-open │
              │                                                     └───────────┘
          reset(force=true), from any state

The seed's rule (consecutive failures) is drawn above; a config may add rate rules over a
sliding window and a quorum of failing instances (trip.py, window.py; docs/trip-rules.md). A
shadow config is a second breaker folded beside the real one and never enforced (shadow.py;
docs/shadow-config.md).

Public API (the modules of this package, by concern: state, window, trip, transitions,
commands, event, batch, shadow, placement, views):
    new_state(service) -> BreakerState
    fold(state, source, offset, body) -> (state, emitted)  one event, the rules written plainly
    fold_batch(state, events) -> (state, emitted)          the aggregator's hot path, equal to it
    fold_service(state, events) -> (state, emitted)        fold_batch with the shadow breaker beside it
    fold_in_command_order(state, events) -> (state, emitted)  records where commands landed
    CommandQueue                                           puts commands back there, for replay
    to_service_state(state) -> dict                        the ServiceState wire object
    state_to_record(state) -> dict / state_from_record(record) -> BreakerState
    next_deadline(state) -> int | None                     when a tick would change something
    changed_circuit(old, new) -> bool                      did the circuit state move between the two

`source` is a topic partition without the topic prefix ("call-outcomes:3"); an event whose
offset is at or below the last one applied from its source is skipped. Emitted items are
`(topic_suffix, value)` pairs, `"breaker-transitions"` (every circuit change with its cause,
trip.py), `"health-history"` or `"command-results"`, in the order they happened, plus `"metric-rollups"` (closed minutes, fusebox.core.rollups) unless folded with
`rollups=False`. Neither `fold` nor `fold_batch` changes the state passed in.
"""
from __future__ import annotations

from fusebox.core.breaker.batch import fold_batch
from fusebox.core.breaker.commands import COMMAND_RESULTS
from fusebox.core.breaker.event import fold
from fusebox.core.breaker.shadow import fold_service
from fusebox.core.breaker.placement import CommandQueue, fold_in_command_order, outcome_positions, position_of
from fusebox.core.breaker.state import (CLOSED, DEFAULT_FAILURE_THRESHOLD, DEFAULT_MIN_HEALTHY_PERIOD_MS,
                    DEFAULT_REQUEST_LIMIT, DEFAULT_RESET_TIMEOUT_MS, DEGRADED, FAILED, HALF_OPEN,
                    HEALTHY, OPEN, RECORD_FORMAT, BreakerState, new_state, state_from_record,
                    state_to_record)
from fusebox.core.breaker.transitions import BREAKER_TRANSITIONS, HEALTH_HISTORY, Emitted
from fusebox.core.breaker.views import changed_circuit, next_deadline, to_service_state

__all__ = [
    "CLOSED", "OPEN", "HALF_OPEN", "HEALTHY", "DEGRADED", "FAILED",
    "HEALTH_HISTORY", "COMMAND_RESULTS", "BREAKER_TRANSITIONS",
    "DEFAULT_FAILURE_THRESHOLD", "DEFAULT_RESET_TIMEOUT_MS", "DEFAULT_MIN_HEALTHY_PERIOD_MS",
    "DEFAULT_REQUEST_LIMIT", "RECORD_FORMAT",
    "BreakerState", "Emitted", "new_state", "state_to_record", "state_from_record",
    "fold", "fold_batch", "fold_service", "fold_in_command_order", "outcome_positions", "position_of", "CommandQueue",
    "to_service_state", "next_deadline", "changed_circuit",
]
