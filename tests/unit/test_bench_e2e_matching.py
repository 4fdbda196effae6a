"""The end-to-end bench's matching of clients' receipts to the SDK's calls (bench/bench_e2e.py `analyse`): each kind
of update is timed from the call it names, nothing before the warm-up ends counts, and an update not received by
every client is left out."""
from __future__ import annotations

import pytest

from bench.bench_e2e import FLAP_CONFIG, analyse

T0 = 1_800_000_000.0  # epoch s of the first call


def near(values: list[float]):
    return pytest.approx(values, abs=1e-6)  # epoch seconds as floats: microseconds apart


def published(calls: dict[str, list[float]], trips: dict[str, list[int]], measured_from: float = T0) -> dict:
    names = sorted(calls)
    return {"services": names, "calls": [calls[n] for n in names], "trips": [trips.get(n, []) for n in names],
            "measured_from": measured_from}


def test_other_updates_are_timed_from_the_oldest_call_they_are_first_to_show():
    calls = {"a": [T0 + 0.00, T0 + 0.04, T0 + 0.08, T0 + 0.12]}
    rows = [["a", "closed", 2, (T0 + 0.30) * 1000, 3],  # calls 1-2: from call 1
            ["a", "closed", 4, (T0 + 0.50) * 1000, 3]]  # calls 3-4: from call 3
    figures = analyse(published(calls, {}), rows, 3, {"a": [(1, T0 + 0.10), (4, T0 + 0.20)]}, {})
    assert figures["other"]["all"] == near([0.30, 0.42])
    assert figures["outcomes"] == near([0.30, 0.26, 0.42, 0.38])
    # the split: call 1 is first counted by the record of total 1, call 3 by that of total 4
    assert figures["other"]["to_topic"] == near([0.10, 0.12])
    assert figures["other"]["from_topic"] == near([0.20, 0.30])


def test_an_opening_is_timed_from_the_tripping_call_and_a_closing_from_the_first_call_after_the_reset_timeout():
    step = 0.2
    calls = {"a": [T0 + k * step for k in range(12)]}
    opened_ms = int(calls["a"][4] * 1000)  # the breaker opens at the 5th call
    rows = [["a", "open", 6, (T0 + 1.3) * 1000, 2],  # shows calls 1-6; the 5th tripped it
            ["a", "closed", 12, (T0 + 2.5) * 1000, 2]]  # shows calls 7-12; closed by the first at opened + 1000 ms
    figures = analyse(published(calls, {"a": [5]}), rows, 2, {}, {("a", "open", 6): opened_ms})
    assert figures["open"]["all"] == near([1.3 - 4 * step])
    first_after = next(t for t in calls["a"] if t * 1000 >= opened_ms + FLAP_CONFIG["resetTimeoutMs"] - 1)
    assert figures["close"]["all"] == near([T0 + 2.5 - first_after])
    assert figures["moves"] == {"closed -> open": 1, "open -> closed": 1}
    assert figures["other"]["all"] == []


def test_warm_up_calls_incomplete_receipts_and_clock_driven_changes_are_not_timed():
    calls = {"a": [T0 - 1.0, T0 + 0.1, T0 + 0.2], "b": [T0 + 0.1]}
    rows = [["a", "closed", 1, (T0 - 0.8) * 1000, 2],  # a warm-up call
            ["b", "closed", 1, (T0 + 0.3) * 1000, 1],  # one of two clients only
            ["a", "closed", 3, (T0 + 0.4) * 1000, 2],
            ["a", "half-open", 3, (T0 + 0.5) * 1000, 2]]  # no new call: the clock moved it
    figures = analyse(published(calls, {}), rows, 2, {}, {})
    assert figures["other"]["all"] == near([0.3])
    assert figures["incomplete"] == 1
    assert figures["timer_driven"] == 1
