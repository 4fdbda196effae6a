"""One batch of input records in, per-service states and records to publish out.

The shell around the pure fold: decode and validate each record (bad ones become dead letters),
group by service in log order, fold, and collect what must be published. No I/O happens here;
the worker (app.py) does the reading, the publishing and the table writes.

    records ──decode──► (service, source, offset, body) ──fold_batch per service──► states
        │                                                         └──► health-history, command-results
        └─ invalid ──► dead letters (original bytes + reason)
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fusebox.core import breaker
from fusebox.core.topics import CALL_OUTCOMES
from fusebox.core.validation import ValidationError, decode_command, decode_outcome

OUTCOME_SOURCE = CALL_OUTCOMES.suffix

# Service names already validated by this process: the hot path skips their regular expression.
_known_services: set[str] = set()


def source_of(topic: str, partition: int) -> str:
    """The key under which a state remembers its last applied offset of one input partition."""
    return f"{topic}:{partition}"


@dataclass(frozen=True, slots=True)
class InputRecord:
    topic: str  # registry suffix: "call-outcomes" or "breaker-commands"
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None


@dataclass(frozen=True, slots=True)
class InputChunk:
    """Records of one input partition, in offset order (as one fetch returned them)."""

    topic: str  # registry suffix: "call-outcomes" or "breaker-commands"
    partition: int
    records: Sequence[Any]  # each with .offset, .key and .value (bytes or None)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: InputRecord
    code: str
    message: str


@dataclass(slots=True)
class ServiceChange:
    service: str
    partition: int
    state: breaker.BreakerState
    service_state: dict | None  # the ServiceState to publish, when the state changed
    circuit_changed: bool
    next_deadline: int | None


@dataclass(slots=True)
class BatchResult:
    changes: list[ServiceChange] = field(default_factory=list)
    emitted: list[tuple[str, str, dict]] = field(default_factory=list)  # (topic suffix, key, value)
    dead_letters: list[DeadLetter] = field(default_factory=list)


def decode(topic: str, value: bytes | None) -> dict:
    """Decode and validate one input record's value (`topic`: its registry suffix); raise
    ValidationError when it is not a valid event."""
    if value is None:
        raise ValidationError("MALFORMED_JSON", "record has no value")
    if topic == OUTCOME_SOURCE:
        return decode_outcome(value, _known_services)
    return decode_command(value)


def process(chunks: Sequence[InputChunk], load_state: Callable[[str], breaker.BreakerState | None],
            rollups: bool = True) -> BatchResult:
    """Fold a batch of input chunks; `load_state` gives a service's stored state (None when new).

    `rollups=False` (FUSEBOX_ROLLUPS=off) folds without per-minute metric rollups.
    """
    result = BatchResult()
    by_service: dict[str, list[tuple[str, int, dict]]] = {}
    partition_of: dict[str, int] = {}
    commanded: set[str] = set()  # services with commands in this batch
    for chunk in chunks:
        topic, partition = chunk.topic, chunk.partition
        source = source_of(topic, partition)
        is_command = topic != OUTCOME_SOURCE
        for record in chunk.records:
            value = record.value
            try:
                body = decode(topic, value)
            except ValidationError as exc:
                bad = InputRecord(topic, partition, record.offset, value, record.key)
                result.dead_letters.append(DeadLetter(bad, exc.code, exc.message))
                continue
            service = body["service"]
            events = by_service.get(service)
            if events is None:
                events = by_service[service] = []
                partition_of[service] = partition
            events.append((source, record.offset, body))
            if is_command:
                commanded.add(service)

    for service, events in by_service.items():
        before = load_state(service)
        if before is None:
            before = breaker.new_state(service)
        if service in commanded:
            after, emitted = breaker.fold_in_command_order(before, events, rollups)
        else:
            after, emitted = breaker.fold_batch(before, events, rollups)
        for topic, value in emitted:
            result.emitted.append((topic, service, value))
        changed = after.version != before.version
        result.changes.append(ServiceChange(
            service=service,
            partition=partition_of[service],
            state=after,
            service_state=breaker.to_service_state(after) if changed else None,
            circuit_changed=breaker.changed_circuit(before, after),
            next_deadline=breaker.next_deadline(after),
        ))
    return result

