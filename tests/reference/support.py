"""The reference checks' Java harnesses: a folder under tests/reference/ holds a pom.xml that
resolves a library's jars into .run/<folder>/libs (`make setup` does it first; a missing one is
resolved here) and a Reference.java that reads call sequences on stdin and prints the library's
decision after every call."""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from fusebox.core import breaker
from tests.unit.breaker_log import COMMANDS_SOURCE, OUTCOMES_SOURCE, SERVICE, T0, command

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Harness:
    name: str  # its folder under tests/reference and under .run
    jar: str  # the glob of the library's own jar, present once resolved

    @property
    def sources(self) -> Path:
        return ROOT / "tests" / "reference" / self.name

    @property
    def libs(self) -> Path:
        return ROOT / ".run" / self.name / "libs"

    def resolve(self) -> Path:
        if not list(self.libs.glob(self.jar)):
            subprocess.run(["mvn", "-q", "-B", "-f", str(self.sources / "pom.xml"), f"-Dlibs.dir={self.libs}",
                            "package"], check=True, timeout=600)
        return self.libs

    def decisions(self, work: Path, lines: list[str], *java_options: str) -> list[str]:
        """Compile Reference.java into `work` and run it on `lines`: one line of decisions per line."""
        assert shutil.which("java") and shutil.which("javac") and shutil.which("mvn"), "needs a JDK and Maven"
        classpath = f"{work}:{self.resolve()}/*"
        subprocess.run(["javac", "-d", str(work), "-cp", classpath, str(self.sources / "Reference.java")],
                       check=True, timeout=300)
        result = subprocess.run(["java", *java_options, "-cp", classpath, "Reference"], input="".join(lines),
                                capture_output=True, text=True, check=True, timeout=300)
        theirs = result.stdout.splitlines()
        assert len(theirs) == len(lines), result.stderr
        return theirs


RESILIENCE4J = Harness("resilience4j", "resilience4j-circuitbreaker-*.jar")
SENTINEL = Harness("sentinel", "sentinel-core-*.jar")


OUTCOMES = {"S": "success", "B": "success", "L": "success", "F": "failure", "X": "failure", "T": "timeout",
            "R": "rejected"}


def fusebox_decisions(rules: dict, calls: str, slow_ms: int = 0) -> str:
    """The fold's circuit after every call of `calls` under `rules` (with the seed's rule and the
    open state out of the way): C or O per call. S, F, T and R are a success, a failure, a timeout
    and a rejected call of 0 ms; L and X a slow success and a slow failure (`slow_ms` + 1); B a
    success of exactly `slow_ms`."""
    config = command("config.update", -1, {"failureThreshold": 10_000, "resetTimeoutMs": 86_400_000,
                                          "minHealthyPeriodMs": 0, **rules})
    state, _ = breaker.fold(breaker.new_state(SERVICE), COMMANDS_SOURCE, 0, config)
    decisions = []
    for index, call in enumerate(calls):
        latency = slow_ms + 1 if call in "LX" else slow_ms if call == "B" else 0
        body = {"service": SERVICE, "outcome": OUTCOMES[call], "latencyMs": float(latency),
                "ts": T0 + index, "eventId": f"e{index}", "instance": None, "error": None}
        state, _ = breaker.fold(state, OUTCOMES_SOURCE, index, body)
        decisions.append("C" if state.circuit == "closed" else "O")
    return "".join(decisions)
