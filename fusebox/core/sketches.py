"""The read side of metric rollups: merge stored rows into OperationMetrics. Pure, no I/O.

Rows carry exact counts and latency sums, and a latency histogram in DDSketch's dense bin format
(`contiguousBinIndexOffset` + `contiguousBinCounts` under DDSketch's logarithmic mapping, plus a
zero count). Merging histograms adds bin counts, which is exact: a merged histogram is the one the
union of the raw latencies would give. Quantiles are then read the way ddsketch reads them
(`DenseStore.key_at_rank`: the first bin whose running count exceeds rank = q × (count − 1),
valued by `LogarithmicMapping.value`), so they are within the mapping's relative accuracy of the
exact latency at that rank. Percentiles are never averaged.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from fusebox.core.rollups import MAPPING

BIN_DTYPE = np.dtype("<i8")


def bins_to_bytes(counts: Iterable[int]) -> bytes:
    """Dense bin counts as stored in PostgreSQL (little-endian int64)."""
    return np.asarray(list(counts), dtype=BIN_DTYPE).tobytes()


def bins_from_bytes(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype=BIN_DTYPE)


class MergedMetrics:
    """Counts, latency sum and merged latency histogram of any number of rollup rows."""

    __slots__ = ("requests", "successes", "failures", "_latency_sums", "zero", "_parts")

    def __init__(self) -> None:
        self.requests = 0
        self.successes = 0
        self.failures = 0
        self._latency_sums: list[float] = []
        self.zero = 0
        self._parts: list[tuple[int, np.ndarray]] = []

    def add(self, requests: int, successes: int, failures: int, latency_sum: float, zero: int,
            bin_offset: int, bins: np.ndarray | bytes) -> None:
        self.requests += requests
        self.successes += successes
        self.failures += failures
        self._latency_sums.append(latency_sum)
        self.zero += zero
        if not isinstance(bins, np.ndarray):
            bins = bins_from_bytes(bins)
        if len(bins):
            self._parts.append((bin_offset, bins))

    @property
    def latency_sum(self) -> float:
        """Exactly rounded (math.fsum), so the order in which rows arrive never changes the average."""
        return math.fsum(self._latency_sums)

    def histogram(self) -> tuple[int, np.ndarray]:
        """The merged dense bins: (offset of the first bin, counts)."""
        parts = self._parts
        if not parts:
            return 0, np.zeros(0, dtype=BIN_DTYPE)
        if len(parts) == 1:
            return parts[0]
        low = min(offset for offset, _ in parts)
        high = max(offset + len(bins) for offset, bins in parts)
        merged = np.zeros(high - low, dtype=BIN_DTYPE)
        for offset, bins in parts:
            merged[offset - low:offset - low + len(bins)] += bins
        self._parts = [(low, merged)]
        return low, merged

    def quantile(self, q: float) -> float:
        """The latency at quantile q (ms), as ddsketch computes it; 0 when there were no calls."""
        low, bins = self.histogram()
        count = self.zero + int(bins.sum())
        if count == 0:
            return 0.0
        rank = q * (count - 1)
        if rank < self.zero:
            return 0.0
        running = np.cumsum(bins)
        index = int(np.searchsorted(running, rank - self.zero, side="right"))
        return MAPPING.value(low + index)

    def operation_metrics(self) -> dict[str, float | int]:
        """The `data` object of the seed's OperationMetrics."""
        requests = self.requests
        return {
            "requestCount": requests,
            "successCount": self.successes,
            "failureCount": self.failures,
            "avgResponseTime": self.latency_sum / requests if requests else 0.0,
            "p95ResponseTime": self.quantile(0.95),
            "p99ResponseTime": self.quantile(0.99),
        }


def sketch_bins(sketch: dict) -> tuple[int, list[int], int]:
    """(bin offset, dense counts, zero count) of a MetricRollup's `sketch` (DDSketch's JSON form)."""
    positive = sketch["positiveValues"]
    return positive["contiguousBinIndexOffset"], positive["contiguousBinCounts"], sketch["zeroCount"]
