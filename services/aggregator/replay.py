"""`fusebox replay`: re-fold the input topics from offset 0 and compare with the live results.

The rebuild uses the same pure fold as the workers, in a fresh, empty state. Outcomes and commands
arrive on two topics, so the live worker decides their interleaving; each CommandResult records it
(`appliedAfter`: the last outcome offset of that service folded before the command), and the
rebuild honours it. The rebuilt ServiceStates are compared with the latest records of
`breaker-states`, and the rebuilt health history and transitions with the `circuit_breaker_history`
and `circuit_breaker_transitions` rows inside the retention window. Exit 0 when all are equal.
`--write-history` upserts the rebuilt history and transitions into PostgreSQL (rebuilding lost rows;
idempotent).

Run it when the workers have caught up; events arriving during the run show up as differences.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg

from fusebox.core import breaker
from fusebox.core.codec import dumps, dumps_sorted, loads
from fusebox.core.isotime import parse_iso_ms
from fusebox.core.topics import BREAKER_COMMANDS, BREAKER_STATES, CALL_OUTCOMES, COMMAND_RESULTS, TopicSpec
from fusebox.core.validation import ValidationError
from fusebox.settings import HISTORY_RETENTION_DAYS, Settings
from fusebox.storage.schema import scoped_conninfo
from fusebox.topic_reader import read_from_start
from fusebox.aggregator.processor import admit, source_of
from fusebox.aggregator.settings import max_clock_skew_ms_from_env
from fusebox.aggregator.sinks import PostgresSink

logger = logging.getLogger("fusebox.aggregator.replay")

FOLD_CHUNK = 5000
RETENTION_MS = HISTORY_RETENTION_DAYS * 24 * 60 * 60 * 1000


@dataclass
class Rebuild:
    states: dict[str, breaker.BreakerState] = field(default_factory=dict)
    history: dict[tuple[str, int], dict] = field(default_factory=dict)
    transitions: dict[tuple[str, bool, int], dict] = field(default_factory=dict)
    pending_commands: int = 0
    folded: int = 0

    def fold(self, service: str, events: list[tuple[str, int, dict]]) -> None:
        if not events:
            return
        state = self.states.get(service) or breaker.new_state(service)
        state, emitted = breaker.fold_service(state, events)
        self.states[service] = state
        self.folded += len(events)
        for topic, value in emitted:
            if topic == "health-history":
                self.history[(service, value["seq"])] = value
            elif topic == "breaker-transitions":
                self.transitions[(service, value.get("shadow", False), value["seq"])] = value


async def valid_inputs(bootstrap: str, prefix: str, spec: TopicSpec, max_clock_skew_ms: int):
    """(source, offset, decoded body) of every admitted record of an input topic, from offset 0.

    The verdicts are the live worker's: the same rule, on the same keys, values and record
    timestamps (FUSEBOX_MAX_CLOCK_SKEW_MS must be the workers' value).
    """
    async for record in read_from_start(bootstrap, spec.name(prefix)):
        try:
            body = admit(spec.suffix, record, max_clock_skew_ms)
        except ValidationError:
            continue  # the live worker sent it to the dead-letter topic
        yield source_of(spec.suffix, record.partition), record.offset, body


async def rebuild(settings: Settings, max_clock_skew_ms: int) -> Rebuild:
    prefix, bootstrap = settings.topic_prefix, settings.kafka_bootstrap

    # Where the live workers placed each command among the outcomes (the last result wins: an
    # earlier one may belong to a fold that a crash undid).
    placement: dict[str, dict[str, int]] = {}
    async for record in read_from_start(bootstrap, COMMAND_RESULTS.name(prefix)):
        if record.value is not None:
            result = loads(record.value)
            placement[result["commandId"]] = result.get("appliedAfter", {})

    # Commands per service, in log order, each put back where the live worker folded it.
    commands = breaker.CommandQueue()
    out = Rebuild()
    async for source, offset, body in valid_inputs(bootstrap, prefix, BREAKER_COMMANDS, max_clock_skew_ms):
        after = placement.get(body["commandId"])
        if after is None:
            out.pending_commands += 1
            continue
        commands.add(body["service"], after, (source, offset, body))

    buffers: dict[str, list[tuple[str, int, dict]]] = defaultdict(list)
    async for source, offset, body in valid_inputs(bootstrap, prefix, CALL_OUTCOMES, max_clock_skew_ms):
        service = body["service"]
        due = commands.due_before(service, offset)
        if due:
            out.fold(service, buffers.pop(service, []))
            for command in due:
                out.fold(service, [command])
        buffer = buffers[service]
        buffer.append((source, offset, body))
        if len(buffer) >= FOLD_CHUNK:
            out.fold(service, buffers.pop(service))

    for service in set(buffers) | commands.services():
        out.fold(service, buffers.pop(service, []))
        for command in commands.remaining(service):
            out.fold(service, [command])
    return out


async def live_states(settings: Settings) -> dict[str, dict]:
    states: dict[str, dict] = {}
    async for record in read_from_start(settings.kafka_bootstrap, BREAKER_STATES.name(settings.topic_prefix)):
        if record.value is None:
            states.pop(record.key.decode(), None)
        else:
            state = loads(record.value)
            states[state["service"]] = state
    return states


def live_history(database_url: str, schema: str, since_ms: int) -> dict[tuple[str, int], tuple]:
    """This deployment's history rows (its own schema) since `since_ms`."""
    with psycopg.connect(scoped_conninfo(database_url, schema)) as conn:
        rows = conn.execute(
            "SELECT service_name, seq, timestamp, status, duration_ms, incidents, transition_seq "
            "FROM circuit_breaker_history "
            "WHERE timestamp >= to_timestamp(%s / 1000.0) AT TIME ZONE 'UTC'", (since_ms,)).fetchall()
    return {(r[0], r[1]): (r[2].isoformat(timespec="milliseconds"), r[3], r[4], r[5], r[6]) for r in rows}


def live_transitions(database_url: str, schema: str, since_ms: int) -> dict[tuple[str, bool, int], dict]:
    """This deployment's transition rows (its own schema) since `since_ms`, as the documents stored,
    by (service, shadow, seq)."""
    with psycopg.connect(scoped_conninfo(database_url, schema)) as conn:
        rows = conn.execute(
            "SELECT service_name, shadow, seq, transition FROM circuit_breaker_transitions "
            "WHERE at >= to_timestamp(%s / 1000.0) AT TIME ZONE 'UTC'", (since_ms,)).fetchall()
    return {(r[0], r[1], r[2]): r[3] for r in rows}


def history_key(entry: dict) -> tuple:
    iso = entry["timestamp"]
    return (iso[:-1] if iso.endswith("Z") else iso, entry["status"], entry["duration"], entry.get("incidents", 0),
            entry.get("transitionSeq"))


def compare(rebuilt: Rebuild, states: dict[str, dict], history: dict[tuple[str, int], tuple],
            since_ms: int, transitions: dict[tuple[str, bool, int], dict] | None = None) -> list[str]:
    differences = []
    for service in sorted(set(states) | set(rebuilt.states)):
        live = states.get(service)
        built = rebuilt.states.get(service)
        built_wire = breaker.to_service_state(built) if built is not None else None
        if live is None or built_wire is None or dumps_sorted(live) != dumps_sorted(built_wire):
            differences.append(f"state {service}: live {live!r} != rebuilt {built_wire!r}")
    built_history = {key: history_key(entry) for key, entry in rebuilt.history.items()
                     if parse_iso_ms(entry["timestamp"]) >= since_ms}
    for key in sorted(set(history) | set(built_history)):
        if history.get(key) != built_history.get(key):
            differences.append(f"history {key}: live {history.get(key)!r} != rebuilt {built_history.get(key)!r}")
    if transitions is not None:
        built_transitions = {key: t for key, t in rebuilt.transitions.items() if parse_iso_ms(t["at"]) >= since_ms}
        for key in sorted(set(transitions) | set(built_transitions)):
            live, built = transitions.get(key), built_transitions.get(key)
            if live is None or built is None or dumps_sorted(live) != dumps_sorted(built):
                differences.append(f"transition {key}: live {live!r} != rebuilt {built!r}")
    return differences


async def run(settings: Settings, write_history: bool, max_clock_skew_ms: int) -> int:
    started = time.monotonic()
    rebuilt = await rebuild(settings, max_clock_skew_ms)
    if write_history:
        sink = PostgresSink(settings.database_url, settings.db_schema)
        try:
            await sink.write_history([dumps(entry) for entry in rebuilt.history.values()])
            await sink.write_transitions([dumps(t) for t in rebuilt.transitions.values()])
        finally:
            await sink.close()
    since_ms = int(time.time() * 1000) - RETENTION_MS
    history = live_history(settings.database_url, settings.db_schema, since_ms)
    transitions = live_transitions(settings.database_url, settings.db_schema, since_ms)
    differences = compare(rebuilt, await live_states(settings), history, since_ms, transitions)
    print(f"replayed {rebuilt.folded} events into {len(rebuilt.states)} services and "
          f"{len(rebuilt.history)} history entries and {len(rebuilt.transitions)} transitions in {time.monotonic() - started:.1f}s"
          + (f"; {rebuilt.pending_commands} commands not yet applied live" if rebuilt.pending_commands else ""))
    for line in differences[:50]:
        print(line)
    if differences:
        print(f"MISMATCH: {len(differences)} differences")
        return 1
    print("MATCH: rebuilt states, history and transitions equal the live ones")
    return 0


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="fusebox replay", description=__doc__.splitlines()[0])
    parser.add_argument("--write-history", action="store_true",
                        help="upsert the rebuilt history into PostgreSQL before comparing")
    args = parser.parse_args(list(argv))
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(run(Settings.from_env(), args.write_history, max_clock_skew_ms_from_env()))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
