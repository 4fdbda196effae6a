"""One batch of input records in, per-service states and records to publish out.

The shell around the pure fold: admit each record (fusebox.core.admission: the value, the key, the
event time; refused ones become dead letters), group by service in log order, fold, and collect
what must be published. No I/O happens here; the worker (app.py) does the reading, the publishing
and the table writes.

    records ──admit──► (service, source, offset, body) ──fold_batch per service──► states
        │                                                        └──► health-history, command-results
        └─ refused ──► dead letters (the record + a reason code)
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fusebox.core import breaker
from fusebox.core.admission import DEFAULT_MAX_CLOCK_SKEW_MS, admit_command, admit_outcome
from fusebox.core.topics import CALL_OUTCOMES
from fusebox.core.validation import ValidationError

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
    records: Sequence[Any]  # each with .offset, .key, .value (bytes or None) and .timestamp (epoch ms)


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


def admit(topic: str, record: Any, max_clock_skew_ms: int) -> dict:
    """The event of one input record (`topic`: its registry suffix); raise ValidationError, whose
    code is the DLQ reason, when the record is refused. The live fold and replay both use this."""
    admit_record = admit_outcome if topic == OUTCOME_SOURCE else admit_command
    return admit_record(record.key, record.value, record.timestamp, max_clock_skew_ms, _known_services)


def process(chunks: Sequence[InputChunk], load_state: Callable[[str], breaker.BreakerState | None],
            rollups: bool = True, max_clock_skew_ms: int = DEFAULT_MAX_CLOCK_SKEW_MS) -> BatchResult:
    """Fold a batch of input chunks; `load_state` gives a service's stored state (None when new).

    `rollups=False` (FUSEBOX_ROLLUPS=off) folds without per-minute metric rollups;
    `max_clock_skew_ms` (FUSEBOX_MAX_CLOCK_SKEW_MS) bounds event times by the records' timestamps.
    """
    result = BatchResult()
    by_service: dict[str, list[tuple[str, int, dict]]] = {}
    partition_of: dict[str, int] = {}
    commanded: set[str] = set()  # services with commands in this batch
    for chunk in chunks:
        topic, partition = chunk.topic, chunk.partition
        source = source_of(topic, partition)
        is_command = topic != OUTCOME_SOURCE
        admit_record = admit_command if is_command else admit_outcome
        for record in chunk.records:
            try:
                body = admit_record(record.key, record.value, record.timestamp, max_clock_skew_ms, _known_services)
            except ValidationError as exc:
                bad = InputRecord(topic, partition, record.offset, record.value, record.key)
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
        elif before.shadow is None:
            # No shadow set, and no command here to set one: fold_service would be fold_batch and a call more.
            after, emitted = breaker.fold_batch(before, events, rollups)
        else:
            after, emitted = breaker.fold_service(before, events, rollups)
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

