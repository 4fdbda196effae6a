"""What one folded batch sends to Kafka, as plain values: the worker (app.py) only publishes them.

Two sends per batch, in this order (docs/architecture.md): first the outputs, then the state
table's changelog records, each acknowledged before the input offsets are committed.

    BatchResult ──output_messages──► health-history, command-results, metric-rollups (as folded),
                │                     then breaker-states for every service whose state changed
                └─changelog_records─► one stored record per service folded, keyed by its name
"""
from __future__ import annotations

from collections.abc import Mapping

from fusebox.aggregator.processor import BatchResult
from fusebox.core import breaker
from fusebox.core.codec import dumps
from fusebox.core.topics import BREAKER_STATES

Message = tuple[str, bytes, bytes, list | None]  # (topic name, key, value, headers)


def output_messages(result: BatchResult, names: Mapping[str, str]) -> list[Message]:
    """The batch's outputs; `names` maps registry suffixes to this deployment's topic names."""
    outgoing: list[Message] = [(names[topic], service.encode(), dumps(value), None)
                               for topic, service, value in result.emitted]
    states = names[BREAKER_STATES.suffix]
    for change in result.changes:
        if change.service_state is not None:
            outgoing.append((states, change.service.encode(), dumps(change.service_state), None))
    return outgoing


def changelog_records(result: BatchResult) -> list[tuple[bytes, bytes]]:
    """(key, stored record) of every service folded, in the order of `result.changes`."""
    return [(change.service.encode(), dumps(breaker.state_to_record(change.state))) for change in result.changes]
