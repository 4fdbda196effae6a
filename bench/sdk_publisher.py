"""The end-to-end bench's load generator: one FuseboxClient publishing outcomes at a steady rate, in a process of
its own so that it shares no interpreter with what it measures.

    python -m bench.sdk_publisher BOOTSTRAP PREFIX SERVICES FLAPPING RATE WARMUP_S SECONDS OUT_JSON

Service i of SERVICES is called every SERVICES-th time. The first FLAPPING services fail RUN times in a row once
every CYCLE of their own calls (staggered), which opens their breakers (failureThreshold RUN); the rest fail 1 % of
the time. The wall-clock time of every call, taken just before `FuseboxClient.record` (which stamps the outcome's
`ts` from the same clock), is written per service in call order to OUT_JSON, with the calls that tripped a breaker
(the RUN-th failure in a row), the rate reached after the warm-up, and the SDK's own counters.
"""
from __future__ import annotations

import random
import sys
import time

from fusebox.core import codec
from fusebox.sdk import FuseboxClient

RUN = 5  # failures in a row: the breaker's failureThreshold for the flapping services
CYCLE = 75  # calls of one service per flap: 3 s at 25 calls/s


def service_names(count: int) -> list[str]:
    return [f"e2e-svc-{i:04d}" for i in range(count)]


def main(bootstrap: str, prefix: str, services: int, flapping: int, rate: int, warmup_s: float, seconds: float,
         out: str) -> None:
    names = service_names(services)
    calls: list[list[float]] = [[] for _ in names]
    in_a_row = [0] * services
    trips: list[list[int]] = [[] for _ in names]  # per service, the 1-based call numbers that tripped its breaker
    rng = random.Random(11)
    client = FuseboxClient(bootstrap=bootstrap, topic_prefix=prefix, instance="bench-e2e", enforce=False,
                           buffer_size=100_000)
    record = client.record
    try:
        started = time.perf_counter()
        measured_from = started + warmup_s
        end = measured_from + seconds
        sent = sent_at_measure = 0
        measure_wall = None
        while (now := time.perf_counter()) < end:
            if measure_wall is None and now >= measured_from:
                sent_at_measure, measure_wall = sent, time.time()
            due = int((now - started) * rate)
            while sent < due:
                i = sent % services
                k = len(calls[i])
                if i < flapping:
                    failing = (k + i * CYCLE // flapping) % CYCLE < RUN
                else:
                    failing = rng.random() < 0.01
                in_a_row[i] = in_a_row[i] + 1 if failing else 0
                if in_a_row[i] == RUN:
                    trips[i].append(k + 1)
                at = time.time()
                record(names[i], "failure" if failing else "success", 12.5, "upstream 503" if failing else None)
                calls[i].append(at)
                sent += 1
            time.sleep(0.001)
        reached = (sent - sent_at_measure) / (time.perf_counter() - measured_from)
        client.flush(30)
        stats = client.stats()
    finally:
        client.close()
    with open(out, "wb") as f:
        f.write(codec.dumps({"services": names, "calls": calls, "trips": trips, "measured_from": measure_wall,
                             "sent": sent, "rate": reached, "delivered": stats.delivered, "dropped": stats.dropped}))


if __name__ == "__main__":
    bootstrap, prefix, services, flapping, rate, warmup_s, seconds, out = sys.argv[1:9]
    main(bootstrap, prefix, int(services), int(flapping), int(rate), float(warmup_s), float(seconds), out)
