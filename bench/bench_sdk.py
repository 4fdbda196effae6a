"""The SDK's cost to the caller, and how many outcomes one process can ship.

1. Per-call overhead of a breaker around a no-op function, sync and async: µs per call for the
   bare call, the decorated call and the context manager, and the ratio to the bare call. The
   client is connected to a real broker with a live state stream and a closed breaker (the common
   path), so the figure includes contention with the SDK's own sending thread.
   Beside it, pybreaker's decorator on the same no-op in the same run: ns of overhead per call
   (wrapped minus bare) for both, three interleaved runs, and Fusebox's overhead as a ratio of pybreaker's.
2. Sustained publish rate from one process: one thread offers outcomes as fast as it can for
   `PUBLISH_SECONDS` through a bounded buffer; delivered/s is what Kafka acknowledged, and the
   rest was dropped (counted) rather than slowing the caller.

Starts its own Kafka, PostgreSQL and Redis with tests.harness.start_stack().
"""
from __future__ import annotations

import asyncio
import gc
import time
import uuid
from collections.abc import Callable
from importlib.metadata import version

import pybreaker

from fusebox.kafka_admin import ensure_topics
from fusebox.sdk import FuseboxClient
from tests.harness import start_stack

CALLS = 100_000
ROUNDS = 3
PUBLISH_SECONDS = 10.0
BUFFER = 10_000


def _noop() -> None:
    return None


async def _anoop() -> None:
    return None


def _best(fn, client: FuseboxClient, rounds: int = ROUNDS) -> float:
    """Best wall time of `fn` over `rounds`; the SDK's buffer is flushed between rounds, outside the timing."""
    best = float("inf")
    for _ in range(rounds):
        client.flush(60)
        gc.collect()
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    client.flush(60)
    return best


def _per_call_sync(client: FuseboxClient) -> dict[str, float]:
    breaker = client.breaker("bench-sync")
    wrapped = breaker(_noop)

    def bare() -> None:
        for _ in range(CALLS):
            _noop()

    def decorated() -> None:
        for _ in range(CALLS):
            wrapped()

    def with_block() -> None:
        for _ in range(CALLS):
            with breaker:
                _noop()

    return {name: _best(fn, client) / CALLS * 1e6 for name, fn in
            (("bare", bare), ("decorated", decorated), ("with", with_block))}


def _versus_pybreaker(client: FuseboxClient, runs: int = 3) -> list[dict[str, float]]:
    """ns of overhead per call (wrapped minus bare) of Fusebox's and pybreaker's decorators, closed breakers."""
    ours = client.breaker("bench-versus")(_noop)
    theirs = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)(_noop)

    def loop(fn) -> Callable[[], None]:
        def timed() -> None:
            for _ in range(CALLS):
                fn()
        return timed

    figures = []
    for _ in range(runs):
        # rounds alternate between the two, best of each: a noisy moment hits both alike
        best = {"bare": float("inf"), "fusebox": float("inf"), "pybreaker": float("inf")}
        for _ in range(ROUNDS):
            for name, fn in (("bare", _noop), ("fusebox", ours), ("pybreaker", theirs)):
                best[name] = min(best[name], _best(loop(fn), client, rounds=1) / CALLS * 1e9)
        fusebox_ns, pybreaker_ns = best["fusebox"] - best["bare"], best["pybreaker"] - best["bare"]
        figures.append({"bare": best["bare"], "fusebox": fusebox_ns, "pybreaker": pybreaker_ns,
                        "ratio": fusebox_ns / pybreaker_ns})
    return figures


def _per_call_async(client: FuseboxClient) -> dict[str, float]:
    breaker = client.breaker("bench-async")
    wrapped = breaker(_anoop)

    async def bare() -> float:
        started = time.perf_counter()
        for _ in range(CALLS):
            await _anoop()
        return time.perf_counter() - started

    async def decorated() -> float:
        started = time.perf_counter()
        for _ in range(CALLS):
            await wrapped()
        return time.perf_counter() - started

    async def with_block() -> float:
        started = time.perf_counter()
        for _ in range(CALLS):
            async with breaker:
                await _anoop()
        return time.perf_counter() - started

    results = {}
    for name, coro_fn in (("bare", bare), ("decorated", decorated), ("async with", with_block)):
        best = float("inf")
        for _ in range(ROUNDS):  # timed inside the loop: the event loop's start and stop are not the SDK's
            client.flush(60)
            gc.collect()
            best = min(best, asyncio.run(coro_fn()))
        results[name] = best / CALLS * 1e6
    client.flush(60)
    return results


def _publish_rate(client: FuseboxClient, *, yielding: bool) -> dict[str, float]:
    """Offer outcomes for PUBLISH_SECONDS. `yielding`: the caller pauses 1 ms whenever the buffer is full, as an
    application doing any I/O would; otherwise it is a pure-Python loop that never releases the GIL on its own."""
    client.flush(60)
    before = client.stats()
    offered = 0
    record, buffer = client.record, client._buffer
    started = time.perf_counter()
    deadline = started + PUBLISH_SECONDS
    while time.perf_counter() < deadline:
        if yielding and buffer.pending > BUFFER - 1000:
            time.sleep(0.001)
            continue
        for _ in range(1000):
            record("bench-publish", "success", 1.5)
        offered += 1000
    client.flush(60)
    elapsed = time.perf_counter() - started
    after = client.stats()
    delivered = after.delivered - before.delivered
    return {"offered": offered, "delivered": delivered, "delivered_per_s": delivered / elapsed,
            "dropped": after.dropped - before.dropped, "seconds": elapsed}


def run() -> None:
    stack = start_stack()
    try:
        prefix = f"bench{uuid.uuid4().hex[:6]}."
        asyncio.run(ensure_topics(stack.kafka_bootstrap, prefix))
        client = FuseboxClient(bootstrap=stack.kafka_bootstrap, topic_prefix=prefix, instance="bench",
                               buffer_size=CALLS + 1000)
        try:
            client.wait_until_live(30)
            sync = _per_call_sync(client)
            print(f"sync  per call: bare {sync['bare']:.3f} µs | decorated {sync['decorated']:.2f} µs "
                  f"(+{sync['decorated'] - sync['bare']:.2f} µs, x{sync['decorated'] / sync['bare']:.1f}) | "
                  f"with {sync['with']:.2f} µs (+{sync['with'] - sync['bare']:.2f} µs, "
                  f"x{sync['with'] / sync['bare']:.1f})", flush=True)
            for i, run_figures in enumerate(_versus_pybreaker(client), 1):
                print(f"versus pybreaker {version('pybreaker')}, run {i}: bare {run_figures['bare']:.0f} ns | "
                      f"overhead per call: Fusebox {run_figures['fusebox']:.0f} ns, pybreaker "
                      f"{run_figures['pybreaker']:.0f} ns | Fusebox/pybreaker {run_figures['ratio']:.2f}", flush=True)
            asy = _per_call_async(client)
            print(f"async per call: bare {asy['bare']:.3f} µs | decorated {asy['decorated']:.2f} µs "
                  f"(+{asy['decorated'] - asy['bare']:.2f} µs, x{asy['decorated'] / asy['bare']:.1f}) | "
                  f"async with {asy['async with']:.2f} µs (+{asy['async with'] - asy['bare']:.2f} µs, "
                  f"x{asy['async with'] / asy['bare']:.1f})", flush=True)
            stats = client.stats()
            print(f"  (state stream {stats.state_stream}, {stats.delivered} outcomes delivered, "
                  f"{stats.dropped} dropped)", flush=True)
        finally:
            client.close()
        publisher = FuseboxClient(bootstrap=stack.kafka_bootstrap, topic_prefix=prefix, instance="bench-publish",
                                  buffer_size=BUFFER, enforce=False)
        try:
            for yielding in (True, False):
                rate = _publish_rate(publisher, yielding=yielding)
                how = "caller yields when the buffer is full" if yielding else "caller spins on the CPU"
                print(f"publish from one process ({how}), buffer {BUFFER}: delivered "
                      f"{rate['delivered_per_s']:,.0f} outcomes/s ({rate['delivered']:,} in {rate['seconds']:.1f} s, "
                      f"acks=all, idempotent, lz4); offered {rate['offered']:,}, dropped {rate['dropped']:,}",
                      flush=True)
        finally:
            publisher.close()
    finally:
        stack.close()


if __name__ == "__main__":
    run()
