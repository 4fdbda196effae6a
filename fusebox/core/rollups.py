"""Per-minute metric rollups of one service, folded with its breaker state. Pure: no clock, no I/O.

Each event-time minute of a service gets a bucket: requestCount (successes + failures + timeouts;
`rejected` is counted apart, as in `operations`), successCount, failureCount, rejectedCount, the
exact latency sum, and a latency histogram with DDSketch's logarithmic index mapping (relative
accuracy ALPHA): bin key = ceil(log2(v) * multiplier), as `ddsketch.LogarithmicMapping.key`
computes it, counts kept in a dict. Emitted sketches are DDSketch's own bin format (the protobuf
`DDSketch` message in its JSON form), so readers merge and query them with ddsketch's mapping.

A minute closes when the service's clock (the fold's clock: the largest event time seen) passes
its end plus LATENESS_MS; it is then emitted as part 0. An outcome for a minute that has already
closed goes to a correction bucket with its own part number (1, 2, 3 … per service), emitted when
the clock passes the end of the minute in which that correction began plus LATENESS_MS, or when
MAX_LATE_BUCKETS corrections are pending:

    clock:      ──[ minute m ]──[ m+1 ]────┬──────────────────────────────────►
                                m+60s+5s   └─► m closes: ("metric-rollups", {m, part 0})
    late event for m ─► correction bucket (m, part k) ─► emitted one clock-minute later

Every rule depends on event times and log order only, so replay (and folding in any chunks)
emits the same rows, byte for byte; the breaker state's per-source offsets make redelivered
events skipped, so nothing is counted twice. The natural key of a row is (service, minute, part).
"""
from __future__ import annotations

from math import ceil, isfinite, log
from typing import Any

from ddsketch.mapping import LogarithmicMapping

from fusebox.core.rules import LATENCY_MAX_MS

METRIC_ROLLUPS = "metric-rollups"

MINUTE_MS = 60_000
LATENESS_MS = 5_000
MAX_LATE_BUCKETS = 60
ALPHA = 0.01  # DDSketch relative accuracy: every quantile within 1% of the exact value at its rank

MAPPING = LogarithmicMapping(ALPHA)
_MULTIPLIER = MAPPING._multiplier  # the mapping's own constant, so keys equal MAPPING.key(v)
_MIN_POSITIVE = MAPPING.min_possible

# A bucket is a list, for speed: the indices below, then the bins dict.
REQUESTS, SUCCESSES, FAILURES, REJECTED, LATENCY_SUM, ZERO, BINS, PART = range(8)


class RollupState:
    """The open minutes, the pending corrections and the last correction part number of one service.

    `due` is the clock time at which something must be emitted (the first open minute's close,
    or the pending corrections' deadline), else None: the fold checks it on every clock move.
    """

    __slots__ = ("open", "late", "part", "late_due", "due")

    def __init__(self) -> None:
        self.open: dict[int, list] = {}
        self.late: dict[int, list] = {}
        self.part = 0
        self.late_due: int | None = None
        self.due: int | None = None

    def copy(self) -> "RollupState":
        """Shares the buckets: the fold copies a bucket before changing it (see `bucket_for`)."""
        c = object.__new__(RollupState)
        c.open = self.open.copy()
        c.late = self.late.copy()
        c.part = self.part
        c.late_due = self.late_due
        c.due = self.due
        return c


def _new_bucket(part: int) -> list:
    return [0, 0, 0, 0, 0.0, 0, {}, part]


def _copy_bucket(b: list) -> list:
    return [b[0], b[1], b[2], b[3], b[4], b[5], b[6].copy(), b[7]]


def _update_due(r: RollupState) -> None:
    close = min(r.open) + MINUTE_MS + LATENESS_MS if r.open else None
    late = r.late_due
    r.due = close if late is None else late if close is None else min(close, late)


def bucket_for(r: RollupState, minute: int, now: int, service: str, touched: dict[int, list],
               out: list) -> list:
    """The bucket an outcome of `minute` goes to, owned by this batch (copied or new); `now` is the clock."""
    b = r.open.get(minute)
    if b is not None:
        b = r.open[minute] = _copy_bucket(b)
    elif minute + MINUTE_MS + LATENESS_MS > now:
        b = r.open[minute] = _new_bucket(0)
        _update_due(r)
    else:  # the minute has closed: a correction
        b = r.late.get(minute)
        if b is not None:
            b = r.late[minute] = _copy_bucket(b)
        else:
            if len(r.late) >= MAX_LATE_BUCKETS:
                _flush_late(r, service, out)
                touched.clear()
            if not r.late:
                r.late_due = now - now % MINUTE_MS + MINUTE_MS + LATENESS_MS
            r.part += 1
            b = r.late[minute] = _new_bucket(r.part)
            _update_due(r)
    touched[minute] = b
    return b


def add(b: list, outcome: str, latency: float) -> None:
    """Count one outcome with its latency (ms) into a bucket this batch owns."""
    if outcome == "rejected":
        b[3] += 1  # short-circuited by the client: not a call, no latency
        return
    b[0] += 1
    if outcome == "success":
        b[1] += 1
    else:
        b[2] += 1  # failure or timeout
    b[4] += latency
    if latency > _MIN_POSITIVE:
        bins = b[6]
        key = ceil(log(latency, 2) * _MULTIPLIER)
        bins[key] = bins.get(key, 0) + 1
    else:
        b[5] += 1


def advance(r: RollupState, now: int, service: str, out: list) -> None:
    """The clock moved to `now` (at or past `r.due`): emit the minutes and corrections now due."""
    closing = [m for m in r.open if m + MINUTE_MS + LATENESS_MS <= now]
    for minute in sorted(closing):
        out.append((METRIC_ROLLUPS, rollup_value(service, minute, r.open.pop(minute))))
    if r.late_due is not None and r.late_due <= now:
        _flush_late(r, service, out)
    _update_due(r)


def _flush_late(r: RollupState, service: str, out: list) -> None:
    for minute in sorted(r.late):
        out.append((METRIC_ROLLUPS, rollup_value(service, minute, r.late[minute])))
    r.late = {}
    r.late_due = None
    _update_due(r)


def pending(r: RollupState) -> list[tuple[int, list]]:
    """Every bucket not yet emitted, as (minute, bucket): the open minutes and the pending corrections."""
    return sorted(r.open.items()) + sorted(r.late.items())


# --- wire and record forms ---------------------------------------------------------------

def sketch_value(b: list) -> dict[str, Any]:
    """The latency histogram as DDSketch's protobuf message in JSON form (dense positive bins)."""
    bins = b[BINS]
    if bins:
        low, high = min(bins), max(bins)
        counts = [bins.get(k, 0) for k in range(low, high + 1)]
    else:
        low, counts = 0, []
    return {"mapping": {"gamma": MAPPING.gamma, "indexOffset": 0.0, "interpolation": "NONE"},
            "positiveValues": {"contiguousBinCounts": counts, "contiguousBinIndexOffset": low},
            "zeroCount": b[ZERO]}


def rollup_value(service: str, minute: int, b: list) -> dict[str, Any]:
    """The MetricRollup record of one bucket (schemas/metric-rollup.schema.json)."""
    return {"service": service, "bucketStart": minute, "bucketMs": MINUTE_MS, "part": b[PART],
            "requestCount": b[REQUESTS], "successCount": b[SUCCESSES], "failureCount": b[FAILURES],
            "rejectedCount": b[REJECTED], "latencySumMs": b[LATENCY_SUM], "sketch": sketch_value(b)}


def _bucket_record(minute: int, b: list) -> list:
    keys = sorted(b[BINS])
    return [minute, b[PART], b[REQUESTS], b[SUCCESSES], b[FAILURES], b[REJECTED], b[LATENCY_SUM], b[ZERO],
            keys, [b[BINS][k] for k in keys]]


def _bucket_from(rec: list) -> tuple[int, list]:
    minute, part, requests, successes, failures, rejected, latency_sum, zero, keys, counts = rec
    bins = dict(zip(keys, counts))
    if type(latency_sum) not in (int, float) or not isfinite(latency_sum):
        latency_sum = sketch_sum(bins)
    return minute, [requests, successes, failures, rejected, latency_sum, zero, bins, part]


def sketch_sum(bins: dict[int, int]) -> float:
    """The latency sum a bucket's histogram gives, each value capped at the contract's bound.

    Stands in for a stored sum that is not a finite number: before latencyMs was bounded, a
    minute's sum could overflow to infinity, which JSON stores as null.
    """
    return float(sum(count * min(MAPPING.value(key), LATENCY_MAX_MS) for key, count in bins.items()))


def to_record(r: RollupState) -> dict[str, Any]:
    return {"open": [_bucket_record(m, b) for m, b in sorted(r.open.items())],
            "late": [_bucket_record(m, b) for m, b in sorted(r.late.items())],
            "part": r.part, "lateDue": r.late_due}


def from_record(record: dict[str, Any] | None) -> RollupState:
    r = RollupState()
    if record:
        r.open = dict(_bucket_from(rec) for rec in record["open"])
        r.late = dict(_bucket_from(rec) for rec in record["late"])
        r.part = record["part"]
        r.late_due = record["lateDue"]
        _update_due(r)
    return r
