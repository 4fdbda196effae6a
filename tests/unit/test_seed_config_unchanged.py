"""A config of the seed's fields alone decides exactly as before the trip rules existed.

The digests in `seed_fold_digests.json` were taken from the fold as it was before the trip rules
(states, history, command results and rollups of 300 generated logs, each encoded in sorted JSON).
Today's fold must give the same bytes once the additions are set aside: the transitions it now
emits, the ServiceState's `lastTransition` and `window`, and the `transitionSeq` of a failed
period's HealthHistoryEntry.
"""
from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from fusebox.core import breaker
from fusebox.core.codec import dumps_sorted
from tests.unit.breaker_log import as_events, command, configure, outcome, reset, tick

DIGESTS = Path(__file__).with_name("seed_fold_digests.json")
LOGS = 300
ADDED_STATE_FIELDS = ("lastTransition", "window")
ADDED_HISTORY_FIELDS = ("transitionSeq",)


def seed_logs(count: int = LOGS, seed: int = 14) -> list[list[dict]]:
    rng = random.Random(seed)
    logs = []
    for _ in range(count):
        bodies, clock = [], 0
        if rng.random() < 0.7:
            bodies.append(configure(0, failure_threshold=rng.randint(1, 4), reset_timeout_ms=rng.randint(100, 2_000),
                                    min_healthy_period_ms=rng.randint(0, 3_000),
                                    request_limit=rng.choice([None, 1, 2, 3])))
        for index in range(rng.randint(1, 60)):
            gap = rng.choice([0, 1, 50, 300, 1_500, -200])
            at = clock + gap if gap >= 0 else max(0, clock + gap)
            clock = max(clock, at)
            roll = rng.random()
            if roll < 0.75:
                body = outcome(rng.choice(["success", "success", "failure", "timeout", "rejected"]), at)
                body["eventId"] = f"e{index}"
            elif roll < 0.85:
                body = tick(at)
            elif roll < 0.92:
                body = reset(at, force=rng.random() < 0.5)
            elif roll < 0.97:
                body = configure(at, failure_threshold=rng.randint(1, 4), reset_timeout_ms=rng.randint(100, 2_000),
                                 min_healthy_period_ms=rng.randint(0, 3_000))
            else:
                body = command("config.update", at, {"failureThreshold": 0, "resetTimeoutMs": 1,
                                                     "minHealthyPeriodMs": 0})
            bodies.append(body)
        logs.append(bodies)
    return logs


def fold_digest(bodies: list[dict]) -> str:
    state, emitted = breaker.fold_batch(breaker.new_state("payments-api"), as_events(bodies))
    view = {key: value for key, value in breaker.to_service_state(state).items() if key not in ADDED_STATE_FIELDS}
    kept = [[topic, without(value, ADDED_HISTORY_FIELDS) if topic == "health-history" else value]
            for topic, value in emitted if topic != "breaker-transitions"]
    return hashlib.sha256(dumps_sorted({"state": view, "emitted": kept})).hexdigest()


def without(document: dict, fields: tuple[str, ...]) -> dict:
    return {key: value for key, value in document.items() if key not in fields}


def test_a_config_of_the_seed_fields_folds_to_the_same_bytes_as_before_the_trip_rules():
    expected = json.loads(DIGESTS.read_text(encoding="utf-8"))
    assert len(expected) == LOGS
    assert [fold_digest(bodies) for bodies in seed_logs()] == expected
