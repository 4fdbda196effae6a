"""`fusebox aggregator` restarts its worker when the worker asks for it (status 75), and only then."""
from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from fusebox.aggregator.__main__ import WORKER_ENV, supervise
from fusebox.aggregator.delivery import RESTART_EXIT_CODE

# A stand-in worker: notes each start in a file, then exits with the next status of a script.
WORKER = """
import os, sys
runs = sys.argv[1]
with open(runs, "a") as f:
    f.write(os.environ.get("{env}", "-") + "\\n")
started = len(open(runs).read().split())
statuses = [int(s) for s in sys.argv[2].split(",")]
sys.exit(statuses[min(started, len(statuses)) - 1])
"""


@pytest.fixture(autouse=True)
def keep_signal_handlers():
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def run(tmp_path: Path, statuses: list[int]) -> tuple[int, list[str]]:
    runs = tmp_path / "runs"
    command = [sys.executable, "-c", WORKER.format(env=WORKER_ENV), str(runs), ",".join(map(str, statuses))]
    status = supervise(command, restart_delay_s=0.0)
    return status, runs.read_text().split()


def test_a_worker_asking_for_a_restart_is_replaced_until_one_exits_for_good(tmp_path: Path) -> None:
    status, runs = run(tmp_path, [RESTART_EXIT_CODE, RESTART_EXIT_CODE, 0])
    assert status == 0
    assert runs == ["1", "1", "1"]  # three workers, each told it is the worker


def test_a_worker_failing_otherwise_is_not_restarted_and_its_status_is_returned(tmp_path: Path) -> None:
    status, runs = run(tmp_path, [RESTART_EXIT_CODE, 3, 0])
    assert status == 3
    assert len(runs) == 2


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
