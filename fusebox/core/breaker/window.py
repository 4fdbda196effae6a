"""The sliding window of recent calls that the rate rules judge, and its per-instance counts.

A window is a JSON-safe dict kept in the state (`BreakerState.window`), so it is stored,
replayed and compared like every other field. Two kinds, as resilience4j's `slidingWindowType`:

- `count`: the last `size` calls, a ring of `[code, instance]` entries;
- `time`: the calls of the last `size` seconds of event time, one bucket per second
  (`[second, calls, failures, timeouts, slow, {instance: [calls, failures]}]`), so its memory
  is bounded by the window's seconds, never by the number of calls.

Both keep running totals (`calls`, `failures`, `timeouts`, `slow`, and per instance
`[calls, failures]`), added to when a call comes in and taken from when it leaves the window.
A call's `code` is a bit set: FAILED | TIMEOUT | SLOW. At most MAX_INSTANCES distinct instances
are counted by name; the calls of any further ones are counted under OTHER_INSTANCES.
"""
from __future__ import annotations

from bisect import insort
from typing import Any

COUNT, TIME = "count", "time"
FAILED, TIMEOUT, SLOW = 1, 2, 4

MAX_INSTANCES = 64
OTHER_INSTANCES = "(other)"
NO_INSTANCE = ""  # the key of calls reported without an `instance`
INSTANCES_SHOWN = 5  # the per-instance view: the top instances by failures, the rest summed

Window = dict[str, Any]


def new_window(kind: str, size: int) -> Window:
    window: Window = {"type": kind, "size": size, "calls": 0, "failures": 0, "timeouts": 0, "slow": 0,
                      "instances": {}}
    if kind == COUNT:
        window["ring"] = []
        window["head"] = 0
    else:
        window["buckets"] = []
    return window


def copy_window(window: Window) -> Window:
    """A copy a fold may change. Ring entries are replaced, never changed, so the ring is copied
    shallow; the counts that are changed in place (per instance, per bucket) are copied."""
    copied = dict(window)
    copied["instances"] = {key: counts[:] for key, counts in window["instances"].items()}
    if "ring" in window:
        copied["ring"] = window["ring"][:]
    else:
        copied["buckets"] = [[b[0], b[1], b[2], b[3], b[4], {key: counts[:] for key, counts in b[5].items()}]
                             for b in window["buckets"]]
    return copied


def code_of(outcome: str, latency_ms: float, slow_call_duration_ms: int | None) -> int:
    code = 0
    if outcome != "success":
        code = FAILED | TIMEOUT if outcome == "timeout" else FAILED
    # Slow as resilience4j counts it: strictly longer than the threshold.
    if slow_call_duration_ms is not None and latency_ms > slow_call_duration_ms:
        code |= SLOW
    return code


def _add(window: Window, code: int, key: str, sign: int) -> None:
    window["calls"] += sign
    failed = code & FAILED
    if failed:
        window["failures"] += sign
    if code & TIMEOUT:
        window["timeouts"] += sign
    if code & SLOW:
        window["slow"] += sign
    instances = window["instances"]
    counts = instances.get(key)
    if counts is None:
        counts = instances[key] = [0, 0]
    counts[0] += sign
    if failed:
        counts[1] += sign
    if counts[0] == 0:
        del instances[key]


def _key(window: Window, instance: str | None) -> str:
    key = NO_INSTANCE if instance is None else instance
    instances = window["instances"]
    if key in instances or len(instances) < MAX_INSTANCES:
        return key
    return OTHER_INSTANCES


def record(window: Window, t: int, code: int, instance: str | None) -> None:
    """Count one call at event time `t` (the window's clock is the largest `t` it has seen)."""
    key = _key(window, instance)
    if window["type"] == COUNT:
        ring = window["ring"]
        if len(ring) < window["size"]:
            ring.append([code, key])
        else:
            head = window["head"]
            old_code, old_key = ring[head]
            _add(window, old_code, old_key, -1)
            ring[head] = [code, key]
            window["head"] = (head + 1) % window["size"]
        _add(window, code, key, 1)
        return
    second = t // 1000
    buckets = window["buckets"]
    newest = buckets[-1][0] if buckets else second
    if second > newest:
        expire(window, second)
        newest = second
    if second <= newest - window["size"]:
        return  # a late call older than the window: it would already have left it
    bucket = None
    for candidate in reversed(buckets):
        if candidate[0] <= second:
            if candidate[0] == second:
                bucket = candidate
            break
    if bucket is None:
        bucket = [second, 0, 0, 0, 0, {}]
        insort(buckets, bucket, key=lambda b: b[0])
    bucket[1] += 1
    if code & FAILED:
        bucket[2] += 1
    if code & TIMEOUT:
        bucket[3] += 1
    if code & SLOW:
        bucket[4] += 1
    per = bucket[5].get(key)
    if per is None:
        per = bucket[5][key] = [0, 0]
    per[0] += 1
    if code & FAILED:
        per[1] += 1
    _add(window, code, key, 1)


def expire(window: Window, second: int) -> None:
    """Drop the buckets of a time window that `second` (the clock, in seconds) has left behind."""
    buckets = window["buckets"]
    horizon = second - window["size"]
    while buckets and buckets[0][0] <= horizon:
        _, calls, failures, timeouts, slow, per = buckets.pop(0)
        window["calls"] -= calls
        window["failures"] -= failures
        window["timeouts"] -= timeouts
        window["slow"] -= slow
        instances = window["instances"]
        for key, (c, f) in per.items():
            counts = instances[key]
            counts[0] -= c
            counts[1] -= f
            if counts[0] == 0:
                del instances[key]


def as_of(window: Window, now: int | None) -> Window:
    """The window as the clock `now` (event ms) sees it: a time window without its expired buckets."""
    if window["type"] != TIME or now is None or not window["buckets"]:
        return window
    if window["buckets"][0][0] > now // 1000 - window["size"]:
        return window
    seen = copy_window(window)
    expire(seen, now // 1000)
    return seen


def rate(part: int, calls: int) -> float:
    return part * 100.0 / calls if calls else 0.0


def failing_instances(window: Window) -> int:
    """How many distinct instances reported a failure in the window."""
    return sum(1 for _calls, failures in window["instances"].values() if failures)


def instances_view(window: Window) -> dict[str, Any]:
    """The top INSTANCES_SHOWN instances by failures (then calls, then name), the rest summed."""
    ranked = sorted(window["instances"].items(), key=lambda item: (-item[1][1], -item[1][0], item[0]))
    top = [{"instance": key or None, "calls": calls, "failures": failures}
           for key, (calls, failures) in ranked[:INSTANCES_SHOWN]]
    rest = ranked[INSTANCES_SHOWN:]
    return {"top": top, "others": {"instances": len(rest), "calls": sum(c for _, (c, _f) in rest),
                                   "failures": sum(f for _, (_c, f) in rest)}}


def figures(window: Window) -> dict[str, Any]:
    """The window's counts and rates, as the wire shows them (ServiceState.window, a cause)."""
    calls = window["calls"]
    return {"type": window["type"], "size": window["size"], "calls": calls, "failures": window["failures"],
            "timeouts": window["timeouts"], "slowCalls": window["slow"],
            "failureRate": rate(window["failures"], calls), "slowCallRate": rate(window["slow"], calls),
            "failingInstances": failing_instances(window)}
