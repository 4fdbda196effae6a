"""`fusebox aggregator`: create the topics, then run Faust workers one after the other.

The command supervises its worker; a new worker resumes from the committed offsets.

- exit status 75 (the worker asks for a restart, after a hole in its input delivery): a new
  worker after `restart_delay_s`.
- any other end but status 0 (a crash: an exception, a kill by a signal the supervisor did not
  send): a new worker after a delay that doubles with each recent crash (1 s, 2 s … 30 s). After
  CrashBudget.limit crashes within CrashBudget.window_s the command gives up and exits with the
  worker's status, so that a fault no restart cures reaches whoever runs the command.
- status 0, or a stop: the command ends. SIGTERM and SIGINT go to the worker.
"""
from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import logging
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from fusebox.core.topics import ALL_TOPICS
from fusebox.kafka_admin import ensure_topics
from fusebox.aggregator.delivery import RESTART_EXIT_CODE
from fusebox.aggregator.settings import AggregatorSettings

logger = logging.getLogger("fusebox.aggregator")

WORKER_ENV = "FUSEBOX_AGGREGATOR_WORKER"


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="fusebox aggregator", description="run an aggregator worker")
    parser.add_argument("--loglevel", default="info", choices=["crit", "error", "warn", "info", "debug"])
    args = parser.parse_args(list(argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if os.environ.get(WORKER_ENV) == "1":
        return run_worker(args.loglevel)
    settings = AggregatorSettings.from_env()
    shared = settings.shared
    asyncio.run(ensure_topics(shared.kafka_bootstrap, shared.topic_prefix, ALL_TOPICS,
                              replication_factor=shared.topic_replication_factor,
                              min_insync_replicas=shared.topic_min_insync_replicas,
                              outcome_retention_days=shared.outcome_retention_days))
    return supervise([sys.executable, "-m", "fusebox.cli", "aggregator", "--loglevel", args.loglevel])


def run_worker(loglevel: str) -> int:
    import faust  # only the worker process loads Faust and the app; the supervisor stays small

    from fusebox.aggregator.app import create_aggregator

    settings = AggregatorSettings.from_env()
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    aggregator = create_aggregator(settings)
    tune_garbage_collector()
    worker = faust.Worker(aggregator.app, loglevel=loglevel, redirect_stdouts=False)
    worker.execute_from_commandline()
    return 0


# The fold allocates a few objects per event, nearly all freed by reference counting as soon as a
# batch is done. With Python's default thresholds (700, 10, 10) the cycle collector runs every few
# hundred events, and its older generations walk every object in the worker. Rarer collections,
# and freezing what start-up built, took one worker from 51k to about 95k events/s
# (bench_aggregator's topic, batches of 20,000); memory stayed within 10 MiB.
GC_THRESHOLDS = (200_000, 50, 1000)


def tune_garbage_collector() -> None:
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class CrashBudget:
    """At most `limit` restarts after crashes within any `window_s` seconds (monotonic time)."""

    def __init__(self, limit: int = 5, window_s: float = 600.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._crashes: deque[float] = deque()

    def spend(self, at: float) -> bool:
        """Count a crash at `at`; False when the budget is spent (no restart)."""
        while self._crashes and at - self._crashes[0] >= self.window_s:
            self._crashes.popleft()
        if len(self._crashes) >= self.limit:
            return False
        self._crashes.append(at)
        return True

    def recent(self) -> int:
        return len(self._crashes)


CRASH_DELAY_CAP_S = 30.0


def crash_restart_delay(recent_crashes: int, base_s: float) -> float:
    """The wait before replacing a crashed worker: `base_s`, doubled for each other recent crash, capped."""
    return min(base_s * 2 ** (recent_crashes - 1), CRASH_DELAY_CAP_S)


def supervise(command: list[str], restart_delay_s: float = 1.0, crashes: CrashBudget | None = None) -> int:
    """Run workers (`command`) until one exits with status 0, a stop, or the crash budget is spent."""
    crashes = crashes or CrashBudget()
    stopping = False
    child: subprocess.Popen | None = None

    def forward(signum, _frame) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    env = {**os.environ, WORKER_ENV: "1"}
    while True:
        child = subprocess.Popen(command, env=env, preexec_fn=_stop_with_parent)
        status = child.wait()
        if stopping:
            return 0 if status in (0, -signal.SIGTERM, -signal.SIGINT) else status
        if status == 0:
            return 0
        if status == RESTART_EXIT_CODE:
            logger.warning("the worker asked for a restart: starting a new one")
            time.sleep(restart_delay_s)
            continue
        if not crashes.spend(time.monotonic()):
            logger.critical("the worker ended with status %d, one crash more than the %d allowed within %.0f s: "
                            "giving up", status, crashes.limit, crashes.window_s)
            return status
        delay = crash_restart_delay(crashes.recent(), restart_delay_s)
        logger.error("the worker ended with status %d: starting a new one in %.0f s", status, delay)
        time.sleep(delay)


def _stop_with_parent() -> None:
    """In the worker, before exec: Linux sends it SIGTERM if the supervising process dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
