"""`fusebox aggregator` replaces its worker when it asks for a restart (status 75) or crashes, at a bounded rate."""
from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from fusebox.aggregator.__main__ import WORKER_ENV, CrashBudget, crash_restart_delay, supervise
from fusebox.aggregator.delivery import RESTART_EXIT_CODE

# A stand-in worker: notes each start in a file, then exits with the next status of a script
# (a negative status: killed by that signal).
WORKER = """
import os, sys
runs = sys.argv[1]
with open(runs, "a") as f:
    f.write(os.environ.get("{env}", "-") + "\\n")
started = len(open(runs).read().split())
statuses = [int(s) for s in sys.argv[2].split(",")]
status = statuses[min(started, len(statuses)) - 1]
if status < 0:
    os.kill(os.getpid(), -status)
sys.exit(status)
"""


@pytest.fixture(autouse=True)
def keep_signal_handlers():
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def run(tmp_path: Path, statuses: list[int], budget: CrashBudget | None = None) -> tuple[int, list[str]]:
    runs = tmp_path / "runs"
    command = [sys.executable, "-c", WORKER.format(env=WORKER_ENV), str(runs), ",".join(map(str, statuses))]
    status = supervise(command, restart_delay_s=0.0, crashes=budget or CrashBudget(limit=3, window_s=60.0))
    return status, runs.read_text().split()


def test_a_worker_asking_for_a_restart_is_replaced_until_one_exits_for_good(tmp_path: Path) -> None:
    status, runs = run(tmp_path, [RESTART_EXIT_CODE, RESTART_EXIT_CODE, 0])
    assert status == 0
    assert runs == ["1", "1", "1"]  # three workers, each told it is the worker


def test_a_worker_that_crashes_is_replaced(tmp_path: Path) -> None:
    status, runs = run(tmp_path, [RESTART_EXIT_CODE, 1, 3, 0])
    assert status == 0
    assert len(runs) == 4


def test_a_worker_killed_by_a_signal_it_was_not_sent_is_replaced(tmp_path: Path) -> None:
    status, runs = run(tmp_path, [-signal.SIGKILL, 0])
    assert status == 0
    assert len(runs) == 2


def test_a_worker_that_keeps_crashing_is_given_up_on_and_its_status_returned(tmp_path: Path) -> None:
    # Given a budget of three restarts after crashes within a minute
    status, runs = run(tmp_path, [3], CrashBudget(limit=3, window_s=60.0))
    # Then the fourth crash ends the supervision with the worker's status
    assert status == 3
    assert len(runs) == 4


def test_restarts_asked_for_do_not_spend_the_crash_budget(tmp_path: Path) -> None:
    status, runs = run(tmp_path, [RESTART_EXIT_CODE] * 6 + [1, 0], CrashBudget(limit=1, window_s=60.0))
    assert status == 0
    assert len(runs) == 8


def test_crashes_older_than_the_window_no_longer_count() -> None:
    budget = CrashBudget(limit=2, window_s=10.0)
    assert budget.spend(at=0.0) and budget.spend(at=1.0)
    assert not budget.spend(at=5.0)  # a third crash within 10 s
    assert budget.spend(at=11.5)  # the first two have aged out


def test_the_delay_before_a_replacement_grows_with_recent_crashes_up_to_a_cap() -> None:
    assert [crash_restart_delay(n, base_s=1.0) for n in range(1, 8)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_a_stop_signal_reaches_the_worker_and_ends_the_supervision_cleanly(tmp_path: Path) -> None:
    started = tmp_path / "started"
    sleeper = f"import time, pathlib; pathlib.Path({str(started)!r}).touch(); time.sleep(60)"

    def stop_when_started() -> None:
        for _ in range(500):
            if started.exists():
                os.kill(os.getpid(), signal.SIGTERM)
                return
            threading.Event().wait(0.01)

    threading.Thread(target=stop_when_started, daemon=True).start()
    assert supervise([sys.executable, "-c", sleeper], restart_delay_s=0.0) == 0
