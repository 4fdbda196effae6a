"""Fold throughput against decoding the same events: orjson.loads, decode + validate, fold_batch,
fold_service (the shadow breaker's wrapper) with no shadow and with one on every service, and the
aggregator's whole per-batch step (`process`: decode, admission, grouping and fold).

Events: 240,000 encoded CallOutcomes of 1,000 services over 20 minutes of event time, most
services nearly healthy, some flaky, a few failing hard (so breakers open, trial and close).
The fold is fed as the aggregator feeds it: one poll at a time, grouped by service, one
`fold_batch` per service per poll. Figures are the best of several rounds, one core.
"""
from __future__ import annotations

import gc
import random
import time
import uuid
from dataclasses import dataclass

import orjson

from fusebox.aggregator.processor import InputChunk, process
from fusebox.core import breaker
from fusebox.core.validation import decode_outcome

EVENTS = 240_000
SERVICES = 1_000
POLL_SIZES = (500, 5_000, 20_000)
REPRESENTATIVE_POLL = 5_000  # the poll size the fold target is stated for (5 events per service per poll)
ROUNDS = 5
T0 = 1_764_194_400_000


def build_events(count: int = EVENTS, services: int = SERVICES, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    names = [f"svc-{i:04d}.payments:v{i % 3}" for i in range(services)]
    failure_rate = {name: 0.002 if i % 10 else (0.15 if i % 50 else 0.7) for i, name in enumerate(names)}
    instances = [f"checkout-{rng.getrandbits(24):06x}" for _ in range(50)]
    raw = []
    for i in range(count):
        name = names[rng.randrange(services)]
        roll = rng.random()
        if roll < failure_rate[name]:
            outcome = "timeout" if roll < failure_rate[name] / 4 else "failure"
        elif roll > 0.995:
            outcome = "rejected"
        else:
            outcome = "success"
        raw.append(orjson.dumps({
            "service": name, "outcome": outcome, "latencyMs": round(rng.lognormvariate(3, 0.6), 2),
            "ts": T0 + i * 5, "eventId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "instance": instances[rng.randrange(50)],
            "error": None if outcome in ("success", "rejected") else "ConnectionResetError",
        }))
    return raw


@dataclass(frozen=True, slots=True)
class Record:
    """The fields of a consumer record that the aggregator's processor reads."""

    offset: int
    key: bytes
    value: bytes
    timestamp: int


def best_of(rounds: int, fn) -> float:
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - started)
        finally:
            gc.enable()
    return best


def polls(decoded: list[dict], size: int) -> list[list[tuple[str, list]]]:
    """The decoded events cut into polls and grouped by service, in log order."""
    grouped = []
    for start in range(0, len(decoded), size):
        by_service: dict[str, list] = {}
        for offset in range(start, min(start + size, len(decoded))):
            body = decoded[offset]
            by_service.setdefault(body["service"], []).append(("call-outcomes:0", offset, body))
        grouped.append(list(by_service.items()))
    return grouped


def configured_state(service: str, config: dict) -> breaker.BreakerState:
    """A new service's state with `config` applied by a config.update command before any outcome."""
    command = {"commandId": str(uuid.uuid4()), "service": service, "type": "config.update",
               "issuedAt": T0 - 1, "issuedBy": "bench", "payload": config}
    state, _ = breaker.fold_batch(breaker.new_state(service), [("breaker-commands:0", 0, command)])
    return state


def shadowed_state(service: str) -> breaker.BreakerState:
    """A new service's state with a shadow config (a lower threshold) set before any outcome."""
    command = {"commandId": str(uuid.uuid4()), "service": service, "type": "shadow-config.set",
               "issuedAt": T0 - 1, "issuedBy": "bench", "payload": {"failureThreshold": 2}}
    state, _ = breaker.fold_service(breaker.new_state(service), [("breaker-commands:0", 0, command)])
    return state


def run() -> None:
    raw = build_events()
    count = len(raw)
    size = sum(map(len, raw)) / count
    print(f"{count:,} events, {SERVICES:,} services, {size:.0f} bytes each on average")

    loads = orjson.loads
    t_loads = best_of(ROUNDS, lambda: [loads(b) for b in raw])
    known_services: set[str] = set()  # as the worker keeps it (services/aggregator/processor.py)
    t_decode = best_of(ROUNDS, lambda: [decode_outcome(b, known_services) for b in raw])
    decoded = [decode_outcome(b, known_services) for b in raw]
    print(f"orjson.loads              {count / t_loads:>12,.0f} events/s   {t_loads / count * 1e9:6.0f} ns/event")
    print(f"decode + validate         {count / t_decode:>12,.0f} events/s   {t_decode / count * 1e9:6.0f} ns/event"
          f"   {t_decode / t_loads:.2f}x loads")

    fold_batch, new_state = breaker.fold_batch, breaker.new_state
    fold_times: dict[int, float] = {}
    for poll_size in POLL_SIZES:
        grouped = polls(decoded, poll_size)
        emitted = 0

        def fold_all() -> None:
            nonlocal emitted
            states: dict[str, breaker.BreakerState] = {}
            emitted = 0
            for poll in grouped:
                for service, events in poll:
                    state = states.get(service)
                    states[service], out = fold_batch(state or new_state(service), events)
                    emitted += len(out)

        t_fold = fold_times[poll_size] = best_of(ROUNDS, fold_all)
        per_batch = count / sum(len(p) for p in grouped)
        print(f"fold_batch, polls of {poll_size:>6,} {count / t_fold:>10,.0f} events/s   "
              f"{t_fold / count * 1e9:6.0f} ns/event   {t_fold / t_loads:.2f}x loads   "
              f"{t_fold / t_decode:.2f}x decode+validate   ({per_batch:.1f} events per batch, "
              f"{emitted:,} emitted)")
    grouped = polls(decoded, REPRESENTATIVE_POLL)

    def fold_without_rollups() -> None:
        states: dict[str, breaker.BreakerState] = {}
        for poll in grouped:
            for service, events in poll:
                state = states.get(service)
                states[service], _ = fold_batch(state or new_state(service), events, rollups=False)

    t_breaker = best_of(ROUNDS, fold_without_rollups)
    print(f"fold_batch without metric rollups, polls of {REPRESENTATIVE_POLL:,}: {count / t_breaker:,.0f} events/s   "
          f"{t_breaker / count * 1e9:6.0f} ns/event   {t_breaker / t_loads:.2f}x loads")
    for label, t_fold in (("breaker fold alone", t_breaker), ("with metric rollups", fold_times[REPRESENTATIVE_POLL])):
        ratio = t_fold / t_loads
        verdict = "met" if ratio <= 1.5 else "NOT met"
        print(f"target (fold <= 1.5x orjson.loads per event, polls of {REPRESENTATIVE_POLL:,}), {label}: "
              f"{verdict}, {ratio:.2f}x")
    # The same fold with the trip rules' window on (docs/trip-rules.md): every call is counted
    # into a sliding window and judged, on top of the seed's rule.
    for label, rules in (("count window of 100", {"slidingWindowType": "count", "slidingWindowSize": 100}),
                         ("time window of 60 s", {"slidingWindowType": "time", "slidingWindowSize": 60})):
        config = {"failureThreshold": 5, "resetTimeoutMs": 30_000, "minHealthyPeriodMs": 60_000,
                  "failureRateThreshold": 50, "minimumNumberOfCalls": 20, "slowCallRateThreshold": 80,
                  "slowCallDurationMs": 100, **rules}
        configured = {service: configured_state(service, config) for service in {b["service"] for b in decoded}}

        def fold_windowed() -> None:
            states: dict[str, breaker.BreakerState] = {}
            for poll in grouped:
                for service, events in poll:
                    state = states.get(service) or configured[service]
                    states[service], _ = fold_batch(state, events, rollups=False)

        t_windowed = best_of(ROUNDS, fold_windowed)
        print(f"fold_batch without metric rollups, failure- and slow-call-rate rules on a {label}, polls of "
              f"{REPRESENTATIVE_POLL:,}: {count / t_windowed:,.0f} events/s   {t_windowed / count * 1e9:6.0f} ns/event"
              f"   {t_windowed / t_loads:.2f}x loads   {t_windowed / t_breaker:.2f}x the seed's rule")
    states = {}

    def fold_and_view() -> None:
        for poll in grouped:
            for service, events in poll:
                state = states.get(service) or new_state(service)
                states[service], _ = fold_batch(state, events)
                breaker.to_service_state(states[service])

    t_view = best_of(1, fold_and_view)
    print(f"fold_batch + to_service_state per batch, polls of {REPRESENTATIVE_POLL:,}: "
          f"{count / t_view:,.0f} events/s")

    # The shadow breaker's wrapper (docs/shadow-config.md): with no shadow set it must cost nothing;
    # rounds alternate between the two so that a busy machine slows both alike.
    def fold_with(fold, start) -> None:
        states: dict[str, breaker.BreakerState] = {}
        for poll in grouped:
            for service, events in poll:
                state = states.get(service)
                states[service], _ = fold(state or start(service), events)

    shadowed_start = {}

    def with_shadow(service: str) -> breaker.BreakerState:
        state = shadowed_start.get(service)
        if state is None:
            state = shadowed_start[service] = shadowed_state(service)
        return state

    for service, _events in (pair for poll in grouped for pair in poll):
        with_shadow(service)
    t_batch = t_service = t_shadowed = float("inf")
    for _ in range(ROUNDS):
        t_batch = min(t_batch, best_of(1, lambda: fold_with(fold_batch, new_state)))
        t_service = min(t_service, best_of(1, lambda: fold_with(breaker.fold_service, new_state)))
        t_shadowed = min(t_shadowed, best_of(1, lambda: fold_with(breaker.fold_service, with_shadow)))
    print(f"fold_service, no shadow set, polls of {REPRESENTATIVE_POLL:,}: {count / t_service:,.0f} events/s   "
          f"{t_service / t_batch:.3f}x fold_batch in the same rounds ({count / t_batch:,.0f} events/s)")
    print(f"fold_service, a shadow config on every service, polls of {REPRESENTATIVE_POLL:,}: "
          f"{count / t_shadowed:,.0f} events/s   {t_shadowed / t_batch:.2f}x fold_batch")

    records = [Record(offset, decoded[offset]["service"].encode(), value, decoded[offset]["ts"] + 3)
               for offset, value in enumerate(raw)]
    chunks = [[InputChunk("call-outcomes", 0, records[start:start + REPRESENTATIVE_POLL])]
              for start in range(0, count, REPRESENTATIVE_POLL)]

    def process_all() -> None:
        stored: dict[str, breaker.BreakerState] = {}
        for poll in chunks:
            for change in process(poll, stored.get).changes:
                stored[change.service] = change.state

    t_process = best_of(ROUNDS, process_all)
    print(f"process (decode, admission, grouping, fold), polls of {REPRESENTATIVE_POLL:,}: "
          f"{count / t_process:,.0f} events/s   {t_process / count * 1e9:6.0f} ns/event   "
          f"{t_process / t_loads:.2f}x loads")


if __name__ == "__main__":
    run()
