"""A storm of malformed input mixed with valid outcomes at full speed: every valid one is folded exactly,
every bad one lands in the DLQ with its reason, and the aggregator never stops.

Each kind of bad input is one line of BAD_INPUTS: its name, the topic it is sent to, the DLQ reason
code it must get, and how to make one (key and value, from a random source, a service name and now).
"""
from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from fusebox.core.codec import dumps
from tests.chaos.support import Figures, Profile, Stopwatch, Tally
from tests.harness import Stack
from tests.integration.aggregator.support import Producer, Worker, latest_states, read_topic, wait_for

OUTCOMES, COMMANDS = "call-outcomes", "breaker-commands"
Make = Callable[[random.Random, str, int], tuple[bytes | None, bytes | None]]


def valid(service: str, now: int, rng: random.Random, **changes) -> dict:
    body = {"service": service, "outcome": "success", "latencyMs": round(rng.uniform(0, 500), 3), "ts": now,
            "eventId": str(uuid.uuid4()), "instance": "storm", "error": None}
    body.update(changes)
    return body


def keyed(service: str, body) -> tuple[bytes, bytes]:
    return service.encode(), dumps(body)


def without(body: dict, name: str) -> dict:
    return {k: v for k, v in body.items() if k != name}


def command(service: str, now: int, **changes) -> dict:
    body = {"commandId": str(uuid.uuid4()), "service": service, "type": "breaker.reset", "issuedAt": now,
            "issuedBy": "storm", "payload": {"reason": "storm"}}
    body.update(changes)
    return body


@dataclass(frozen=True)
class BadInput:
    name: str
    topic: str
    code: str  # the DLQ reason it must get (header fusebox.error.code)
    make: Make


def outcome_with(**changes) -> Make:
    return lambda rng, service, now: keyed(service, valid(service, now, rng, **changes))


def outcome_ahead(ms: int) -> Make:
    return lambda rng, service, now: keyed(service, valid(service, now + ms, rng))


def outcome_without(name: str) -> Make:
    return lambda rng, service, now: keyed(service, without(valid(service, now, rng), name))


def command_with(**changes) -> Make:
    return lambda rng, service, now: keyed(service, command(service, now, **changes))


def raw_value(raw: Callable[[random.Random, str, int], bytes | None]) -> Make:
    return lambda rng, service, now: (service.encode(), raw(rng, service, now))


MALFORMED, INVALID = "MALFORMED_JSON", "VALIDATION_FAILED"
MISSING_KEY, KEY_MISMATCH, FUTURE = "MISSING_KEY", "KEY_MISMATCH", "EVENT_TIME_IN_FUTURE"
END_OF_9999 = 253_402_214_400_000  # 9999-12-31T00:00:00Z: a valid ts, far ahead of any broker timestamp

BAD_INPUTS: tuple[BadInput, ...] = (
    BadInput("not JSON", OUTCOMES, MALFORMED, raw_value(lambda rng, s, now: b"{service: " + s.encode())),
    BadInput("cut-off JSON", OUTCOMES, MALFORMED, raw_value(lambda rng, s, now: dumps(valid(s, now, rng))[:-9])),
    BadInput("invalid UTF-8", OUTCOMES, MALFORMED, raw_value(lambda rng, s, now: b'{"service": "\xff\xfe"}')),
    BadInput("no value", OUTCOMES, MALFORMED, raw_value(lambda rng, s, now: None)),
    BadInput("a JSON array", OUTCOMES, INVALID, lambda rng, s, now: keyed(s, [valid(s, now, rng)])),
    BadInput("no eventId", OUTCOMES, INVALID, outcome_without("eventId")),
    BadInput("unknown outcome", OUTCOMES, INVALID, outcome_with(outcome="meh")),
    BadInput("negative latency", OUTCOMES, INVALID, outcome_with(latencyMs=-1)),
    BadInput("latency as a string", OUTCOMES, INVALID, outcome_with(latencyMs="5")),
    BadInput("service name with a space", OUTCOMES, INVALID,
             lambda rng, s, now: keyed(s, valid(s + " x", now, rng))),
    BadInput("ts after year 9999", OUTCOMES, INVALID, outcome_with(ts=2**53)),
    BadInput("ts as a float", OUTCOMES, INVALID, lambda rng, s, now: keyed(s, valid(s, now, rng, ts=now + 0.5))),
    BadInput("eventId too long", OUTCOMES, INVALID, outcome_with(eventId="e" * 201)),
    BadInput("latency over one day", OUTCOMES, INVALID, outcome_with(latencyMs=86_400_001)),
    BadInput("latency of 1e308", OUTCOMES, INVALID, outcome_with(latencyMs=1e308)),
    BadInput("no key", OUTCOMES, MISSING_KEY, lambda rng, s, now: (None, dumps(valid(s, now, rng)))),
    BadInput("keyed as another service", OUTCOMES, KEY_MISMATCH,
             lambda rng, s, now: (b"not-" + s.encode(), dumps(valid(s, now, rng)))),
    BadInput("event time an hour ahead", OUTCOMES, FUTURE, outcome_ahead(3_600_000)),
    BadInput("event time on 9999-12-31", OUTCOMES, FUTURE, outcome_with(ts=END_OF_9999)),
    BadInput("command without a key", COMMANDS, MISSING_KEY, lambda rng, s, now: (None, dumps(command(s, now)))),
    BadInput("command keyed as another service", COMMANDS, KEY_MISMATCH,
             lambda rng, s, now: (b"not-" + s.encode(), dumps(command(s, now)))),
    BadInput("command not JSON", COMMANDS, MALFORMED, raw_value(lambda rng, s, now: b"\x00\x01reset")),
    BadInput("command of unknown type", COMMANDS, INVALID, command_with(type="explode")),
    BadInput("command without commandId", COMMANDS, INVALID,
             lambda rng, s, now: keyed(s, without(command(s, now), "commandId"))),
)


def storm(count: int, bad_share: float, services: list[str], tally: Tally, seed: int):
    """(topic, key, value, bad input or None) in a random mix; valid outcomes are counted into `tally`."""
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    records = []
    for i in range(count):
        service = rng.choice(services)
        if rng.random() < bad_share:
            bad = BAD_INPUTS[i % len(BAD_INPUTS)]
            key, value = bad.make(rng, service, now)
            records.append((bad.topic, key, value, bad))
        else:
            kind = rng.choice(("success", "success", "success", "failure", "timeout", "rejected"))
            tally.add(service, kind)
            records.append((OUTCOMES, service.encode(), dumps(valid(service, now, rng, outcome=kind)), None))
    return records


async def worker_ready(worker: Worker) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{worker.port}/readyz") as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def dead_letters_counted(port: int) -> dict[str, float]:
    """The running worker's own count of dead letters, by reason."""
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
        text = await response.text()
    counted: Counter = Counter()
    for line in text.splitlines():
        if line.startswith("fusebox_aggregator_dead_letters_total{"):
            labels, value = line.rsplit(" ", 1)
            code = labels.split('code="', 1)[1].split('"', 1)[0]
            counted[code] += float(value)
    return dict(counted)


async def test_a_malformed_input_storm_is_dead_lettered_and_every_valid_outcome_folded(
        stack: Stack, topics: str, database_url: str, tmp_path: Path, profile: Profile, figures: Figures) -> None:
    services = [f"storm-{i:02d}" for i in range(30)]
    tally = Tally()
    records = storm(profile.storm_records, profile.storm_bad_share, services, tally, seed=11)
    bad = [(topic, key, value, kind) for topic, key, value, kind in records if kind is not None]
    expected_codes = Counter(kind.code for *_, kind in bad)
    expected_values = Counter((topics + topic, value or b"") for topic, _, value, _ in bad)
    worker = Worker(stack, topics, database_url, tmp_path).start()
    try:
        await wait_for(lambda: worker_ready(worker), 120, "the worker ready", worker=worker)
        async with Producer(stack, topics) as producer:
            # When the storm arrives at full speed, bad and valid records interleaved on both input topics
            clock = Stopwatch()
            await asyncio.gather(*(producer.raw(topic, [(k, v) for t, k, v, _ in records if t == topic])
                                   for topic in (OUTCOMES, COMMANDS)))
            produced_s = clock()

            # Then every valid outcome is folded exactly, and every bad record is in the DLQ
            async def done() -> bool:
                states = await latest_states(stack, topics)
                dlq = await read_topic(stack, topics + "call-outcomes.dlq")
                return not tally.differences(states) and len(dlq) >= len(bad)

            await wait_for(done, 300, "the storm folded and dead-lettered", every=1.0, worker=worker)
            settled_s = clock()
        dlq = await read_topic(stack, topics + "call-outcomes.dlq")
        headers = [dict((k, v.decode()) for k, v in r.headers) for r in dlq]
        assert Counter(h["fusebox.error.code"] for h in headers) == expected_codes
        assert Counter((h["fusebox.source.topic"], r.value or b"") for h, r in zip(headers, dlq)) == expected_values
        sources = Counter((h["fusebox.source.topic"], h["fusebox.source.partition"], h["fusebox.source.offset"])
                          for h in headers)
        assert max(sources.values()) == 1, "a bad record was dead-lettered twice"
        assert tally.differences(await latest_states(stack, topics)) == []

        # And one worker did it all without stopping: its own counters saw every dead letter
        assert worker.process.poll() is None, worker.log()
        assert "asked for a restart" not in worker.log()
        assert await dead_letters_counted(worker.port) == {code: float(n) for code, n in expected_codes.items()}
        figures.record("malformed-input storm", records=len(records), bad=len(bad), valid=tally.total,
                       kinds_of_bad_input=len(BAD_INPUTS), produced_s=produced_s, settled_s=settled_s,
                       records_per_s=len(records) / settled_s,
                       **{f"dlq_{code}": n for code, n in sorted(expected_codes.items())})
    finally:
        worker.stop()
