"""The failure-rate rule against resilience4j itself, where the two coincide: a count window,
failureRateThreshold, minimumNumberOfCalls. The same generated call sequences go through
resilience4j's CircuitBreaker (tests/reference/resilience4j: the jar resolved by Maven, a small
Java harness) and through the fold; the circuit must be open or closed alike after every call.
"""
from __future__ import annotations

import random

from tests.reference.support import RESILIENCE4J, fusebox_decisions

CASES = 400


def cases(seed: int = 14) -> list[tuple[int, int, int, str]]:
    rng = random.Random(seed)
    generated = [
        (50, 10, 10, "SSSSSFFFFF"),  # the documented example: 5 of a full window of 10 opens
        (50, 10, 10, "SSSSSSFFFF"),  # 4 of 10 does not
        (50, 4, 100, "FFSS"),  # minimumNumberOfCalls above the window size: capped at the size
        (33, 3, 3, "SSF"), (34, 3, 3, "SSF"),  # 33.3…% against 33 and 34
        (100, 5, 5, "FFFFSFFFFF"), (1, 7, 2, "SSSSSSSF"),
    ]
    while len(generated) < CASES:
        size = rng.randint(1, 12)
        minimum = rng.randint(1, 15)
        threshold = rng.choice([1, 10, 25, 33, 34, 50, 66, 67, 75, 99, 100, rng.randint(1, 100)])
        failure_odds = rng.random()
        calls = "".join("F" if rng.random() < failure_odds else "S" for _ in range(rng.randint(1, 40)))
        generated.append((threshold, size, minimum, calls))
    return generated


def count_window(threshold: int, size: int, minimum: int) -> dict:
    return {"failureRateThreshold": threshold, "slidingWindowType": "count", "slidingWindowSize": size,
            "minimumNumberOfCalls": minimum}


def test_open_and_closed_after_every_call_as_resilience4j_decides(tmp_path):
    generated = cases()
    theirs = RESILIENCE4J.decisions(tmp_path, [f"{t} {size} {minimum} {calls}\n"
                                               for t, size, minimum, calls in generated])
    opened = 0
    for (threshold, size, minimum, calls), reference in zip(generated, theirs):
        ours = fusebox_decisions(count_window(threshold, size, minimum), calls)
        assert ours == reference, (threshold, size, minimum, calls)
        opened += "O" in ours
    # the sequences are worth comparing only if they both open and stay closed often
    assert CASES * 0.2 < opened < CASES * 0.9
