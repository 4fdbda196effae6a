"""Builders for breaker logs in tests: outcomes and commands at times relative to T0."""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from fusebox.core import breaker

T0 = 1_764_194_400_000
SERVICE = "payments-api"
OUTCOMES_SOURCE = "call-outcomes:0"
COMMANDS_SOURCE = "breaker-commands:0"


def outcome(kind: str, at: int, service: str = SERVICE) -> dict[str, Any]:
    return {"service": service, "outcome": kind, "latencyMs": 5.0, "ts": T0 + at,
            "eventId": f"{kind}-{at}", "instance": "test-1", "error": None if kind == "success" else "boom"}


def ok(at: int) -> dict[str, Any]:
    return outcome("success", at)


def fail(at: int) -> dict[str, Any]:
    return outcome("failure", at)


def timeout(at: int) -> dict[str, Any]:
    return outcome("timeout", at)


def rejected(at: int) -> dict[str, Any]:
    return outcome("rejected", at)


def command(kind: str, at: int, payload: dict | None = None, service: str = SERVICE) -> dict[str, Any]:
    return {"commandId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}/{at}/{payload}")), "service": service,
            "type": kind, "issuedAt": T0 + at, "issuedBy": "admin-test", "payload": payload or {}}


def tick(at: int) -> dict[str, Any]:
    return command("tick", at)


def reset(at: int, force: bool = False) -> dict[str, Any]:
    return command("breaker.reset", at, {"reason": "test", "force": force})


def configure(at: int, failure_threshold: int = 5, reset_timeout_ms: int = 30_000,
              min_healthy_period_ms: int = 60_000, request_limit: int | None = None) -> dict[str, Any]:
    payload = {"failureThreshold": failure_threshold, "resetTimeoutMs": reset_timeout_ms,
               "minHealthyPeriodMs": min_healthy_period_ms}
    if request_limit is not None:
        payload["requestLimit"] = request_limit
    return command("config.update", at, payload)


def as_events(bodies: Iterable[dict], start: dict[str, int] | None = None) -> list[tuple[str, int, dict]]:
    """Give each body the next offset of its source, as the aggregator would see them."""
    next_offset = dict(start or {})
    events = []
    for body in bodies:
        source = OUTCOMES_SOURCE if "outcome" in body else COMMANDS_SOURCE
        offset = next_offset.get(source, 0)
        next_offset[source] = offset + 1
        events.append((source, offset, body))
    return events


def run(bodies: Iterable[dict], state: breaker.BreakerState | None = None):
    """Fold `bodies` into `state` (a new one by default); return (state, emitted)."""
    state = state or breaker.new_state(SERVICE)
    start = {source: offset + 1 for source, offset in state.offsets.items()}
    return breaker.fold_batch(state, as_events(bodies, start))


def view(state: breaker.BreakerState) -> dict[str, Any]:
    """The ServiceState flattened to dotted paths: {"circuit.state": "open", …}."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else key, item)
        else:
            flat[prefix] = value

    walk("", breaker.to_service_state(state))
    return flat


def of_topic(emitted: list[tuple[str, dict]], topic: str) -> list[dict]:
    return [value for name, value in emitted if name == topic]


def folded_events(result) -> int:
    """How many events a processor batch folded, from what it publishes: each outcome is counted in
    its state's successful, failed or rejected calls, and each command answers with one result."""
    outcomes = sum(change.state.successful + change.state.failed + change.state.rejected
                   for change in result.changes)
    return outcomes + sum(1 for topic, _, _ in result.emitted if topic == "command-results")
