"""Per-minute metric rollups folded with the breaker state: closing, corrections, exactness, sketches."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest
from ddsketch import DDSketch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusebox.core import breaker, rollups
from fusebox.core.codec import dumps, dumps_sorted, loads
from fusebox.core.sketches import MergedMetrics, sketch_bins
from tests.unit.breaker_log import SERVICE, T0, as_events, outcome, run, tick

MINUTE = 60_000
M0 = T0 - T0 % MINUTE  # the minute T0 falls in


def at(kind: str, ms: int, latency: float = 5.0) -> dict:
    body = outcome(kind, ms)
    body["latencyMs"] = latency
    return body


def rollups_of(emitted) -> list[dict]:
    return [value for topic, value in emitted if topic == "metric-rollups"]


def merged(rows) -> MergedMetrics:
    total = MergedMetrics()
    for row in rows:
        offset, counts, zero = sketch_bins(row["sketch"])
        total.add(row["requestCount"], row["successCount"], row["failureCount"], row["latencySumMs"], zero,
                  offset, np.asarray(counts, dtype="<i8"))
    return total


def pending_rows(state: breaker.BreakerState) -> list[dict]:
    return [rollups.rollup_value(state.service, minute, bucket) for minute, bucket in rollups.pending(state.rollups)]


def test_a_minute_is_emitted_once_the_clock_passes_its_end_plus_the_allowed_lateness():
    # Given outcomes in the first minute
    state, emitted = run([at("success", 1_000, 10.0), at("failure", 2_000, 30.0), at("timeout", 3_000, 50.0)])
    assert rollups_of(emitted) == []
    # When the clock reaches the minute's end plus 4.999 s, then 5 s
    state, early = run([tick(M0 + MINUTE + rollups.LATENESS_MS - 1 - T0)], state)
    state, due = run([tick(M0 + MINUTE + rollups.LATENESS_MS - T0)], state)
    # Then the minute is emitted only at end + lateness, once, with exact counts and latency sum
    assert rollups_of(early) == []
    (row,) = rollups_of(due)
    assert (row["bucketStart"], row["part"], row["requestCount"], row["successCount"], row["failureCount"],
            row["rejectedCount"], row["latencySumMs"]) == (M0, 0, 3, 1, 2, 0, 90.0)
    assert [topic for topic, _ in due] == ["metric-rollups", "command-results"]  # in the order it happened
    assert rollups.pending(state.rollups) == []


def test_an_outcome_for_a_closed_minute_becomes_a_numbered_correction_emitted_a_clock_minute_later():
    # Given a first minute that has closed
    state, first = run([at("success", 0), at("success", 2 * MINUTE)])
    assert [r["bucketStart"] for r in rollups_of(first)] == [M0]
    # When an outcome for it arrives late, and another one for the same minute
    state, emitted = run([at("failure", 10), at("failure", 20)], state)
    # Then it is held as correction part 1 (not added to the emitted row) ...
    assert rollups_of(emitted) == []
    (pending_late,) = [row for row in pending_rows(state) if row["part"]]
    assert (pending_late["bucketStart"], pending_late["part"], pending_late["failureCount"]) == (M0, 1, 2)
    # ... and emitted when the clock passes the end of its own clock-minute plus the lateness
    state, later = run([at("success", 3 * MINUTE + rollups.LATENESS_MS)], state)
    assert [(r["bucketStart"], r["part"], r["requestCount"]) for r in rollups_of(later)] == [
        (M0 + 2 * MINUTE, 0, 1), (M0, 1, 2)]


def test_rejected_outcomes_are_counted_apart_and_carry_no_latency():
    state, _ = run([at("rejected", 0, 900.0), at("success", 1, 10.0)])
    (row,) = pending_rows(state)
    assert (row["requestCount"], row["rejectedCount"], row["latencySumMs"]) == (1, 1, 10.0)
    assert sum(row["sketch"]["positiveValues"]["contiguousBinCounts"]) == 1


def test_the_histogram_has_the_bins_ddsketch_would_have_for_the_same_latencies():
    rng = random.Random(3)
    latencies = [0.0] + [rng.lognormvariate(3, 1.2) for _ in range(2_000)]
    state, _ = run([at("success", i % 50_000, v) for i, v in enumerate(latencies)])
    (row,) = pending_rows(state)
    offset, counts, zero = sketch_bins(row["sketch"])
    reference = DDSketch(rollups.ALPHA)
    for v in latencies:
        reference.add(v)
    store = reference._store
    expected = {store.offset + i: c for i, c in enumerate(store.bins) if c}
    assert {offset + i: c for i, c in enumerate(counts) if c} == expected
    assert zero == reference._zero_count == 1
    assert row["sketch"]["mapping"]["gamma"] == reference._mapping.gamma


def exact_at_rank(values: list[float], q: float) -> float:
    """The exact latency at ddsketch's rank q × (n − 1), rounded down: the quantile the sketch approximates."""
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


DISTRIBUTIONS = {
    "uniform": lambda rng: rng.uniform(1, 400),
    "lognormal": lambda rng: rng.lognormvariate(3, 0.9),
    "bimodal": lambda rng: rng.gauss(8, 1.5) if rng.random() < 0.9 else rng.gauss(450, 60),
}


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_quantiles_of_merged_minutes_are_within_the_sketch_accuracy_of_the_exact_ones(name):
    # Given 20,000 latencies spread over 40 minutes of one service
    rng = random.Random(name)
    draw = DISTRIBUTIONS[name]
    latencies = [max(0.0, draw(rng)) for _ in range(20_000)]
    bodies = [at("success" if i % 7 else "failure", i * 120, v) for i, v in enumerate(latencies)]
    state, emitted = run(bodies)
    rows = rollups_of(emitted) + pending_rows(state)
    assert len(rows) > 30
    # When the rows are merged
    total = merged(rows)
    metrics = total.operation_metrics()
    # Then counts and the average are exact, and p95/p99 within 1% of the exact values at their rank
    assert metrics["requestCount"] == len(latencies)
    assert metrics["failureCount"] == sum(1 for i in range(len(latencies)) if i % 7 == 0)
    assert metrics["avgResponseTime"] == pytest.approx(sum(latencies) / len(latencies), rel=1e-12)
    reference = DDSketch(rollups.ALPHA)
    for v in latencies:
        reference.add(v)
    for q, key in ((0.95, "p95ResponseTime"), (0.99, "p99ResponseTime")):
        exact = exact_at_rank(latencies, q)
        assert abs(metrics[key] - exact) <= rollups.ALPHA * exact + 1e-9, (q, metrics[key], exact)
        assert metrics[key] == pytest.approx(reference.get_quantile_value(q), rel=1e-12)


def test_with_rollups_off_nothing_is_counted_or_emitted():
    events = as_events([at("success", 0), at("success", 10 * MINUTE)])
    state, emitted = breaker.fold_batch(breaker.new_state(SERVICE), events, rollups=False)
    assert rollups_of(emitted) == [] and rollups.pending(state.rollups) == []
    assert state.successful == 2


def test_a_format_1_record_loads_with_no_open_rollups():
    record = breaker.state_to_record(run([at("success", 0)])[0])
    record["format"] = 1
    del record["rollups"]
    assert rollups.pending(breaker.state_from_record(record).rollups) == []


def test_a_stored_minute_whose_latency_sum_overflowed_restores_with_the_sum_its_sketch_gives():
    # Given a minute whose latency sum overflowed to infinity before latencyMs was bounded, stored as null
    state, _ = run([at("success", 1_000, 10.0), at("success", 2_000, 1e308), at("failure", 3_000, 1e308)])
    record = loads(dumps(breaker.state_to_record(state)))
    assert record["rollups"]["open"][0][6] is None
    # When the state is restored and folds on, past the minute's close
    restored = breaker.state_from_record(record)
    restored, _ = run([at("success", 4_000, 5.0)], restored)
    _, emitted = run([tick(M0 + MINUTE + rollups.LATENESS_MS - T0)], restored)
    # Then the row carries a finite sum: the sketch's estimate, each latency at most the contract's bound
    (row,) = rollups_of(emitted)
    assert row["requestCount"] == 4
    expected = 10.0 + 2 * rollups.LATENCY_MAX_MS + 5.0
    assert math.isfinite(row["latencySumMs"])
    assert abs(row["latencySumMs"] - expected) <= rollups.ALPHA * expected
    assert loads(dumps(row))["latencySumMs"] == row["latencySumMs"]


@pytest.mark.parametrize("stored", [None, "NaN", float("inf"), float("-inf"), float("nan")])
def test_a_stored_latency_sum_that_is_not_a_finite_number_is_rebuilt_from_the_sketch(stored):
    state, _ = run([at("success", 1_000, 10.0), at("success", 2_000, 20.0)])
    record = breaker.state_to_record(state)
    record["rollups"]["open"][0][6] = stored
    restored = breaker.state_from_record(record)
    ((_, bucket),) = rollups.pending(restored.rollups)
    assert bucket[rollups.LATENCY_SUM] == pytest.approx(30.0, rel=rollups.ALPHA)


# --- properties over random logs -------------------------------------------------------------

@st.composite
def outcome_logs(draw):
    """Outcomes mostly in time order, some late by up to ten minutes, over up to an hour."""
    count = draw(st.integers(1, 120))
    clock, bodies = 0, []
    for _ in range(count):
        clock += draw(st.integers(0, 90_000))
        late = draw(st.sampled_from([0, 0, 0, 0, 3_000, 70_000, 600_000]))
        kind = draw(st.sampled_from(["success", "success", "failure", "timeout", "rejected"]))
        latency = draw(st.sampled_from([0.0, 0.4, 3.0, 12.5, 250.0, 4000.0]))
        bodies.append(at(kind, max(0, clock - late), latency))
    return bodies


def per_minute(rows) -> dict[int, tuple]:
    totals: dict[int, list] = {}
    for row in rows:
        t = totals.setdefault(row["bucketStart"], [0, 0, 0, 0])
        t[0] += row["requestCount"]
        t[1] += row["successCount"]
        t[2] += row["failureCount"]
        t[3] += row["rejectedCount"]
    return {minute: tuple(t) for minute, t in totals.items()}


PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(outcome_logs(), st.data())
def test_rows_are_exact_and_the_same_however_the_log_is_chunked_stored_and_redelivered(bodies, data):
    # Given the whole log folded at once
    events = as_events(bodies)
    whole, whole_out = breaker.fold_batch(breaker.new_state(SERVICE), events)
    # When it is folded in random chunks, the state stored and loaded between them, with redeliveries
    state, out, position = breaker.new_state(SERVICE), [], 0
    while position < len(events):
        size = data.draw(st.integers(1, 10))
        replayed = data.draw(st.integers(0, position))
        state, emitted = breaker.fold_batch(state, events[position - replayed:position + size])
        out += emitted
        state = breaker.state_from_record(loads(dumps(breaker.state_to_record(state))))
        position += size
    # Then the same rows come out byte for byte, and the state is the same
    assert dumps_sorted(out) == dumps_sorted(whole_out)
    assert dumps_sorted(breaker.state_to_record(state)) == dumps_sorted(breaker.state_to_record(whole))
    # And emitted plus pending rows count every outcome exactly once in its own minute
    expected: dict[int, list] = {}
    for body in bodies:
        t = expected.setdefault(body["ts"] - body["ts"] % MINUTE, [0, 0, 0, 0])
        kind = body["outcome"]
        t[3 if kind == "rejected" else 0] += 1
        if kind == "success":
            t[1] += 1
        elif kind != "rejected":
            t[2] += 1
    rows = rollups_of(whole_out) + pending_rows(whole)
    assert per_minute(rows) == {minute: tuple(t) for minute, t in expected.items()}
    # And (service, minute, part) is unique, part 0 at most once per minute
    keys = [(row["bucketStart"], row["part"]) for row in rows]
    assert len(keys) == len(set(keys))
    parts = [row["part"] for row in rows if row["part"]]
    assert sorted(parts) == list(range(1, len(parts) + 1))
