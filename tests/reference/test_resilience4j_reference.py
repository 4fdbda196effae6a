"""The failure-rate rule against resilience4j itself, where the two coincide: a count window,
failureRateThreshold, minimumNumberOfCalls. The same generated call sequences go through
resilience4j's CircuitBreaker (tests/reference/resilience4j: the jar resolved by Maven, a small
Java harness) and through the fold; the circuit must be open or closed alike after every call.
"""
from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

from fusebox.core import breaker
from tests.unit.breaker_log import COMMANDS_SOURCE, OUTCOMES_SOURCE, SERVICE, T0, command

HERE = Path(__file__).resolve().parent / "resilience4j"
LIBS = Path(__file__).resolve().parents[2] / ".run" / "resilience4j" / "libs"
CASES = 400


def resilience4j_libs() -> Path:
    if not list(LIBS.glob("resilience4j-circuitbreaker-*.jar")):
        subprocess.run(["mvn", "-q", "-B", "-f", str(HERE / "pom.xml"), f"-Dlibs.dir={LIBS}", "package"],
                       check=True, timeout=600)
    return LIBS


def cases(seed: int = 14) -> list[tuple[int, int, int, str]]:
    rng = random.Random(seed)
    generated = [
        (50, 10, 10, "SSSSSFFFFF"),  # the documented example: 5 of a full window of 10 opens
        (50, 10, 10, "SSSSSSFFFF"),  # 4 of 10 does not
        (50, 4, 100, "FFSS"),  # minimumNumberOfCalls above the window size: capped at the size
        (33, 3, 3, "SSF"), (34, 3, 3, "SSF"),  # 33.3…% against 33 and 34
        (100, 5, 5, "FFFFSFFFFF"), (1, 7, 2, "SSSSSSSF"),
    ]
    while len(generated) < CASES:
        size = rng.randint(1, 12)
        minimum = rng.randint(1, 15)
        threshold = rng.choice([1, 10, 25, 33, 34, 50, 66, 67, 75, 99, 100, rng.randint(1, 100)])
        failure_odds = rng.random()
        calls = "".join("F" if rng.random() < failure_odds else "S" for _ in range(rng.randint(1, 40)))
        generated.append((threshold, size, minimum, calls))
    return generated


def fusebox_decisions(threshold: int, size: int, minimum: int, calls: str) -> str:
    config = command("config.update", -1, {"failureThreshold": 10_000, "resetTimeoutMs": 86_400_000,
                                          "minHealthyPeriodMs": 0, "failureRateThreshold": threshold,
                                          "slidingWindowType": "count", "slidingWindowSize": size,
                                          "minimumNumberOfCalls": minimum})
    state, _ = breaker.fold(breaker.new_state(SERVICE), COMMANDS_SOURCE, 0, config)
    decisions = []
    for index, call in enumerate(calls):
        body = {"service": SERVICE, "outcome": "success" if call == "S" else "failure", "latencyMs": 1.0,
                "ts": T0 + index, "eventId": f"e{index}", "instance": None, "error": None}
        state, _ = breaker.fold(state, OUTCOMES_SOURCE, index, body)
        decisions.append("C" if state.circuit == "closed" else "O")
    return "".join(decisions)


def test_open_and_closed_after_every_call_as_resilience4j_decides(tmp_path):
    assert shutil.which("java") and shutil.which("javac") and shutil.which("mvn"), "needs a JDK and Maven"
    classpath = f"{tmp_path}:{resilience4j_libs()}/*"
    subprocess.run(["javac", "-d", str(tmp_path), "-cp", classpath, str(HERE / "Reference.java")], check=True,
                   timeout=300)
    generated = cases()
    lines = "".join(f"{t} {size} {minimum} {calls}\n" for t, size, minimum, calls in generated)
    result = subprocess.run(["java", "-cp", classpath, "Reference"], input=lines, capture_output=True, text=True,
                            check=True, timeout=300)
    theirs = result.stdout.splitlines()
    assert len(theirs) == len(generated)
    opened = 0
    for (threshold, size, minimum, calls), reference in zip(generated, theirs):
        ours = fusebox_decisions(threshold, size, minimum, calls)
        assert ours == reference, (threshold, size, minimum, calls)
        opened += "O" in ours
    # the sequences are worth comparing only if they both open and stay closed often
    assert CASES * 0.2 < opened < CASES * 0.9
