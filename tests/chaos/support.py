"""What the chaos scenarios share: the size profile, figures, brokers of their own, API processes, namespaces.

`FUSEBOX_CHAOS_PROFILE=short` (the default, part of `make test`) or `full` (`make chaos`) picks the
sizes of every scenario. Each scenario records its figures with `Figures.record`; they are printed
at the end of the run (tests/chaos/conftest.py) and appended to `.run/chaos-figures.jsonl`.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.harness import ROOT, STACK_SH, Stack, free_port, free_port_pair
from tests.integration.aggregator.support import ManagedProcess
from tests.integration.api.support import SECRET


@dataclass(frozen=True)
class Profile:
    name: str
    # kill -9 the aggregator
    kill_outcomes: int
    kill_rate_per_s: int
    kills: int
    # kill -9 the broker while the SDK publishes
    sdk_rate_per_s: int
    sdk_seconds_before: float
    broker_down_s: float
    sdk_seconds_after: float
    sdk_buffer: int
    # PostgreSQL stopped mid-stream
    pg_down_s: float
    pg_services: int
    # kill -9 one of two API replicas
    config_changes: int
    # partition between the aggregator and the broker
    partition_outcomes: int
    partition_s: float
    # malformed-input storm
    storm_records: int
    storm_bad_share: float
    # stateful REST fuzzing
    fuzz_examples: int
    fuzz_steps: int


PROFILES = {
    "short": Profile(
        name="short", kill_outcomes=100_000, kill_rate_per_s=4000, kills=2,
        sdk_rate_per_s=400, sdk_seconds_before=4, broker_down_s=6, sdk_seconds_after=4, sdk_buffer=1500,
        pg_down_s=8, pg_services=4,
        config_changes=60,
        partition_outcomes=20_000, partition_s=6,
        storm_records=10_000, storm_bad_share=0.3,
        fuzz_examples=15, fuzz_steps=6),
    "full": Profile(
        name="full", kill_outcomes=1_000_000, kill_rate_per_s=6000, kills=5,
        sdk_rate_per_s=1000, sdk_seconds_before=10, broker_down_s=20, sdk_seconds_after=10, sdk_buffer=8000,
        pg_down_s=30, pg_services=12,
        config_changes=400,
        partition_outcomes=200_000, partition_s=30,
        storm_records=100_000, storm_bad_share=0.3,
        fuzz_examples=100, fuzz_steps=12),
}


def current_profile() -> Profile:
    name = os.environ.get("FUSEBOX_CHAOS_PROFILE", "short")
    if name not in PROFILES:
        raise SystemExit(f"FUSEBOX_CHAOS_PROFILE must be one of {', '.join(PROFILES)}, not {name!r}")
    return PROFILES[name]


FIGURES_FILE = ROOT / ".run" / "chaos-figures.jsonl"


class Figures:
    """The figures of one run, printed at its end and appended to .run/chaos-figures.jsonl."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.lines: list[str] = []

    def record(self, scenario: str, **values) -> None:
        shown = ", ".join(f"{k}={_show(v)}" for k, v in values.items())
        line = f"[{self.profile.name}] {scenario}: {shown}"
        self.lines.append(line)
        print(line, flush=True)
        FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
        with FIGURES_FILE.open("a") as out:
            out.write(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                  "profile": self.profile.name, "scenario": scenario, **values}) + "\n")


def _show(value) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, int) and abs(value) >= 10_000:
        return f"{value:,}"
    return str(value)


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() - self.started


# ---------------------------------------------------------------- a broker (and PostgreSQL) of a scenario's own


class OwnStack:
    """Kafka (and, when asked, PostgreSQL) started by deploy/local/stack.sh on free ports in a run folder of its
    own, for scenarios that kill, pause or cut off the broker without touching the session's stack."""

    def __init__(self, kafka_host: str = "127.0.0.1", pg_host: str | None = None) -> None:
        self.run_dir = Path(tempfile.mkdtemp(prefix="fusebox-chaos-"))
        self.run_dir.chmod(0o755)
        self.kafka_host, self.pg_host = kafka_host, pg_host
        self.kafka_port, self.pg_port = free_port_pair(), free_port()
        self.env = dict(os.environ)
        self.env.update(
            FUSEBOX_RUN_DIR=str(self.run_dir),
            FUSEBOX_KAFKA_LIBS=os.environ.get("FUSEBOX_KAFKA_LIBS", str(ROOT / ".run" / "kafka" / "libs")),
            FUSEBOX_KAFKA_HOST=kafka_host,
            FUSEBOX_KAFKA_PORT=str(self.kafka_port),
            FUSEBOX_KAFKA_HEAP="-Xms128m -Xmx512m",
            FUSEBOX_PG_HOST=pg_host or "127.0.0.1",
            FUSEBOX_PG_PORT=str(self.pg_port),
        )
        self.components = ["kafka"] if pg_host is None else ["postgres", "kafka"]

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.kafka_host}:{self.kafka_port}"

    @property
    def database_url(self) -> str:
        assert self.pg_host is not None
        return f"postgresql://fusebox@{self.pg_host}:{self.pg_port}/fusebox"

    def stack(self, session: Stack) -> Stack:
        """The session's stack with this broker (and PostgreSQL) in place of its own."""
        changes = {"kafka_bootstrap": self.kafka_bootstrap}
        if self.pg_host is not None:
            changes["database_url"] = self.database_url
        return dataclasses.replace(session, owned=False, run_dir=None, **changes)

    def run(self, *args: str) -> None:
        subprocess.run(["bash", str(STACK_SH), *args], env=self.env, check=True, stdout=subprocess.DEVNULL,
                       timeout=180)

    def up(self) -> "OwnStack":
        self.run("up", *self.components)
        return self

    def start_kafka(self) -> None:
        self.run("up", "kafka")

    def kafka_pid(self) -> int:
        return int((self.run_dir / f"kafka-{self.kafka_port}" / "kafka.pid").read_text().split()[0])

    def kill_kafka(self) -> None:
        """kill -9 the broker: no controlled shutdown, no flush beyond what the OS already holds."""
        pid = self.kafka_pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _alive(pid):
            if time.monotonic() > deadline:
                raise AssertionError(f"kafka (pid {pid}) still alive 30 s after SIGKILL")
            time.sleep(0.05)

    def pause_kafka(self) -> None:
        os.kill(self.kafka_pid(), signal.SIGSTOP)

    def resume_kafka(self) -> None:
        os.kill(self.kafka_pid(), signal.SIGCONT)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.resume_kafka()
        with contextlib.suppress(Exception):
            self.run("down", *self.components)
        shutil.rmtree(self.run_dir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (our child, not yet reaped) is dead for this purpose
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# ---------------------------------------------------------------- API replicas as processes


class ApiProcess(ManagedProcess):
    """One `fusebox api` process on a free port, with its output in a log file."""

    def __init__(self, stack: Stack, prefix: str, database_url: str, workdir: Path, **env: str) -> None:
        self.port = free_port()
        self.log_path = workdir / f"api-{self.port}.log"
        self.env = stack.env(
            FUSEBOX_TOPIC_PREFIX=prefix, FUSEBOX_DATABASE_URL=database_url, FUSEBOX_JWT_SECRET=SECRET,
            FUSEBOX_API_HOST="127.0.0.1", FUSEBOX_API_PORT=str(self.port), **env)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ApiProcess":
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "fusebox.cli", "api"], env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        return self

    async def ready(self, http: aiohttp.ClientSession, headers: dict) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise AssertionError(f"the API on {self.port} exited:\n{self.log()}")
        try:
            async with http.get(f"{self.url}/api/admin/circuit-breaker/status", headers=headers) as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False



# ---------------------------------------------------------------- network namespaces


class Namespace:
    """A network namespace of this test with veth links to the host, each a /30 of its own.

    Only the namespace, the links and the addresses created here are touched, and `close` removes them.
    """

    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex[:6]
        self.name = f"fbx-chaos-{self.tag}"
        self.links: list[tuple[str, str]] = []  # (host side, namespace side)
        self.created = False

    @staticmethod
    def usable() -> tuple[bool, str]:
        """Whether this machine lets a test create namespaces and veth links (root, iproute2)."""
        ip = shutil.which("ip")
        if ip is None:
            return False, "iproute2 (`ip`) is not installed"
        probe = f"fbx-probe-{uuid.uuid4().hex[:6]}"
        made = subprocess.run([ip, "netns", "add", probe], capture_output=True, text=True)
        if made.returncode != 0:
            return False, f"`ip netns add` refused: {made.stderr.strip()}"
        try:  # a veth pair made inside the probe namespace goes away with it
            linked = subprocess.run([ip, "netns", "exec", probe, "ip", "link", "add", "p0", "type", "veth", "peer",
                                     "name", "p1"], capture_output=True, text=True)
            if linked.returncode != 0:
                return False, f"`ip link add … type veth` refused: {linked.stderr.strip()}"
        finally:
            subprocess.run([ip, "netns", "del", probe], capture_output=True)
        return True, ""

    def create(self) -> "Namespace":
        _ip("netns", "add", self.name)
        self.created = True
        _ip("netns", "exec", self.name, "ip", "link", "set", "lo", "up")
        return self

    def link(self) -> tuple[str, str]:
        """A veth link host ⇄ namespace; returns (host address, namespace address)."""
        index = len(self.links)
        host_side, inner_side = f"fbx{self.tag}h{index}", f"fbx{self.tag}n{index}"
        _ip("link", "add", host_side, "type", "veth", "peer", "name", inner_side)
        self.links.append((host_side, inner_side))
        host_address, inner_address = _free_slash30()
        _ip("link", "set", inner_side, "netns", self.name)
        _ip("addr", "add", f"{host_address}/30", "dev", host_side)
        _ip("link", "set", host_side, "up")
        _ip("netns", "exec", self.name, "ip", "addr", "add", f"{inner_address}/30", "dev", inner_side)
        _ip("netns", "exec", self.name, "ip", "link", "set", inner_side, "up")
        return host_address, inner_address

    def cut(self, index: int) -> None:
        """The host side of a link goes down: what the namespace sends on it is dropped silently."""
        _ip("link", "set", self.links[index][0], "down")

    def heal(self, index: int) -> None:
        _ip("link", "set", self.links[index][0], "up")

    @property
    def exec_prefix(self) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.name)

    def close(self) -> None:
        for host_side, _ in self.links:
            subprocess.run(["ip", "link", "del", host_side], capture_output=True)
        if self.created:
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _free_slash30() -> tuple[str, str]:
    """Two addresses of a 10.231.x.y/30 no interface of this host uses yet."""
    used = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout
    for _ in range(200):
        third, fourth = uuid.uuid4().int % 250 + 1, (uuid.uuid4().int % 60) * 4
        base = f"10.231.{third}."
        if f"{base}{fourth + 1}/" not in used and f"{base}{fourth + 2}/" not in used:
            return f"{base}{fourth + 1}", f"{base}{fourth + 2}"
    raise RuntimeError("no free 10.231.x.y/30")


# ---------------------------------------------------------------- what was sent and what was folded


class Tally:
    """Outcomes sent per service and kind, and the ServiceState operations they must add up to."""

    def __init__(self) -> None:
        self.sent: dict[str, dict[str, int]] = {}

    def add(self, service: str, kind: str, count: int = 1) -> None:
        kinds = self.sent.setdefault(service, {})
        kinds[kind] = kinds.get(kind, 0) + count

    @property
    def total(self) -> int:
        return sum(sum(kinds.values()) for kinds in self.sent.values())

    def operations(self, service: str) -> dict[str, int]:
        kinds = self.sent.get(service, {})
        successful = kinds.get("success", 0)
        failed = kinds.get("failure", 0) + kinds.get("timeout", 0)
        return {"total": successful + failed, "successful": successful, "failed": failed,
                "rejected": kinds.get("rejected", 0)}

    def differences(self, states: dict[str, dict]) -> list[str]:
        """Every service whose folded counters differ from what was sent (empty: exact)."""
        found = []
        for service in sorted(self.sent):
            want = self.operations(service)
            state = states.get(service)
            have = ({k: state["operations"][k] for k in want} if state is not None else None)
            if have != want:
                found.append(f"{service}: folded {have}, sent {want}")
        return found

    def folded(self, states: dict[str, dict]) -> int:
        """Outcomes folded so far, over the services of this tally."""
        return sum(s["operations"]["total"] + s["operations"]["rejected"]
                   for name, s in states.items() if name in self.sent)


async def paced(producer, events, rate_per_s: int, chunk: int = 1000) -> int:
    """Produce `events` at about `rate_per_s`, in chunks; returns how many were sent."""
    started, sent, pending = time.monotonic(), 0, []
    for event in events:
        pending.append(event)
        if len(pending) >= chunk:
            sent += await producer.outcomes(pending)
            pending = []
            ahead = sent / rate_per_s - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
    if pending:
        sent += await producer.outcomes(pending)
    return sent
