"""The failure-rate and slow-call-rate rules against Sentinel itself, where the two coincide.

Sentinel's DegradeRule breakers (ExceptionCircuitBreaker for DEGRADE_GRADE_EXCEPTION_RATIO,
ResponseTimeCircuitBreaker for the slow-request ratio of DEGRADE_GRADE_RT) judge the calls of
one statistic interval, with `minRequestAmount`, and trip strictly above their ratio. Fusebox
trips at or above its percentage. They coincide when every call sits in one window of each (the
harness's interval is ~24.8 days; the fold's window holds every call, by count or by time) and
Sentinel's ratio sits just below Fusebox's percentage: with at most 40 calls no rate falls between
the two, so `> ratio` and `>= percentage` decide alike. The same generated sequences go through
both (tests/reference/sentinel: the jar resolved by Maven, a small Java harness); the circuit must
be open or closed alike after every call. The edges where they differ are asserted as such.
"""
from __future__ import annotations

import random

from tests.reference.support import SENTINEL, fusebox_decisions

CASES = 400
BELOW = 1e-7  # percent: far below the least gap between a rate of at most 40 calls and a threshold (1/40)


def sentinel_ratio(percent: int) -> float:
    return (percent - BELOW) / 100


def cases(seed: int = 18) -> list[tuple[str, int, int, int, str, str]]:
    """(grade, threshold %, minimum calls, slow ms, window type, calls): E for the exception ratio
    over S/F calls, R for the slow-request ratio over S/F/L/X/B calls."""
    rng = random.Random(seed)
    generated = [
        ("E", 50, 10, 0, "count", "SSSSSFFFFF"),  # 5 of 10 at 50%: both open on the tenth
        ("E", 50, 10, 0, "count", "SSSSSSFFFF"),  # 4 of 10: neither
        ("E", 1, 1, 0, "time", "SSSSSSSF"),
        ("R", 50, 4, 10, "count", "SLXB"),  # two slow of four, a success of exactly 10 ms is not slow
        ("R", 100, 2, 25, "time", "LX"),
        ("R", 34, 3, 5, "count", "SBL"), ("R", 33, 3, 5, "count", "SBL"),  # 33.3…% against 34 and 33
    ]
    while len(generated) < CASES:
        grade = rng.choice("ER")
        threshold = rng.choice([1, 10, 25, 33, 34, 50, 66, 67, 75, 99, 100, rng.randint(1, 100)])
        minimum = rng.randint(1, 15)
        slow_ms = 0 if grade == "E" else rng.randint(1, 500)
        odds = rng.random()
        letters = ("S", "F") if grade == "E" else ("SFB", "LX")
        calls = "".join(rng.choice(letters[1]) if rng.random() < odds else rng.choice(letters[0])
                        for _ in range(rng.randint(1, 40)))
        generated.append((grade, threshold, minimum, slow_ms, rng.choice(["count", "time"]), calls))
    return generated


def rules(grade: str, threshold: int, minimum: int, slow_ms: int, window: str) -> dict:
    # a window that holds every call: 1000 calls, or an hour of event time (the calls are 1 ms apart)
    shape = {"slidingWindowType": window, "slidingWindowSize": 1000 if window == "count" else 3600,
             "minimumNumberOfCalls": minimum}
    if grade == "E":
        return {**shape, "failureRateThreshold": threshold}
    return {**shape, "slowCallRateThreshold": threshold, "slowCallDurationMs": slow_ms}


def sentinel_line(grade: str, ratio: float, minimum: int, slow_ms: int, calls: str) -> str:
    return f"{grade} {ratio!r} {minimum} {slow_ms} {calls}\n"


def run_sentinel(tmp_path, lines: list[str]) -> list[str]:
    logs = tmp_path / "sentinel-logs"
    return SENTINEL.decisions(tmp_path, lines, f"-Dcsp.sentinel.log.dir={logs}")


def test_open_and_closed_after_every_call_as_sentinel_decides(tmp_path):
    generated = cases()
    theirs = run_sentinel(tmp_path, [sentinel_line(grade, sentinel_ratio(threshold), minimum, slow_ms, calls)
                                     for grade, threshold, minimum, slow_ms, _, calls in generated])
    opened = {"E": 0, "R": 0}
    for (grade, threshold, minimum, slow_ms, window, calls), reference in zip(generated, theirs):
        ours = fusebox_decisions(rules(grade, threshold, minimum, slow_ms, window), calls, slow_ms)
        assert ours == reference, (grade, threshold, minimum, slow_ms, window, calls)
        opened[grade] += "O" in ours
    # both rules are worth comparing only if each opens and stays closed often
    for grade in "ER":
        count = sum(1 for case in generated if case[0] == grade)
        assert count * 0.2 < opened[grade] < count * 0.9, (grade, opened[grade], count)


def test_where_sentinel_trips_only_above_its_ratio_and_fusebox_at_its_threshold(tmp_path):
    edges = [
        # (grade, Sentinel's ratio, Fusebox's %, minimum, slow ms, calls, Sentinel's, Fusebox's)
        ("E", 0.5, 50, 10, 0, "SSSSSFFFFF", "CCCCCCCCCC", "CCCCCCCCCO"),  # exactly 50%: > vs >=
        ("E", 1.0, 100, 2, 0, "FFFF", "CCCC", "COOO"),  # an exception ratio of 1.0 never trips Sentinel
        ("R", 0.5, 50, 4, 10, "SLLS", "CCCC", "CCCO"),  # exactly half slow
        ("R", 1.0, 100, 2, 10, "LL", "CO", "CO"),  # Sentinel's one equality: a slow ratio of 1.0 at 100%
    ]
    theirs = run_sentinel(tmp_path, [sentinel_line(grade, ratio, minimum, slow_ms, calls)
                                     for grade, ratio, _, minimum, slow_ms, calls, _, _ in edges])
    for (grade, _, percent, minimum, slow_ms, calls, sentinel, fusebox), reference in zip(edges, theirs):
        assert reference == sentinel, (grade, calls)
        assert fusebox_decisions(rules(grade, percent, minimum, slow_ms, "count"), calls, slow_ms) == fusebox
