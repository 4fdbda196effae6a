"""Rolling restarts under load on the local cluster (`make up-cluster`: 3 workers, 2 API replicas).

Workers: restarted one at a time (SIGTERM, wait until ready, next) while a producer sends outcomes at
a steady rate; every service's `operations` ends exact, no service's version ever goes back, and the
pause each restart causes (the longest time a service had no breaker-states output) is reported.
API replicas: restarted one at a time behind a readiness-aware proxy while an admin sends config
changes and 50 WebSocket clients are connected; every 2xx change is audited and applied, and every
client reconnects within its 5 attempts and ends with the state breaker-states holds.
"""
from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

import aiohttp
import psycopg
import pytest
from aiokafka import AIOKafkaProducer

from fusebox.auth import mint_token
from fusebox.core import codec
from fusebox.core.topics import CALL_OUTCOMES, COMMAND_RESULTS
from fusebox.sdk.admin_client import AdminClient
from fusebox.storage.schema import schema_for_prefix
from fusebox.topic_reader import read_from_start
from tests.e2e.cluster.support import (API_REPLICAS, SECRET, WORKERS, Cluster, ReadyProxy, StateFollower,
                                       cluster_env, free_ports)
from tests.harness import ROOT, Stack, drop_database, fresh_database

SERVICES = [f"roll-{i:02d}" for i in range(12)]
RATE = 150  # outcomes per second, all services together
WS_CLIENTS = 50
BASE = "/api/admin/circuit-breaker"
SETTLE_S = 90  # deadline for the cluster to catch up once the load stops


@pytest.fixture(scope="module")
def report(request):
    """Prints a measured figure into the test run's output, past pytest's capture."""
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def write(line: str) -> None:
        with capture.global_and_fixture_disabled():
            print(f"\n[rolling restarts] {line}", flush=True)
    return write


@pytest.fixture(scope="module")
def cluster_prefix() -> str:
    return f"cl{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="module")
def cluster_database(stack: Stack, cluster_prefix: str):
    url = fresh_database(stack.database_url, schema_for_prefix(cluster_prefix))
    yield url
    drop_database(stack.database_url, url)


@pytest.fixture(scope="module")
def cluster(stack: Stack, cluster_prefix: str, cluster_database: str, tmp_path_factory):
    demo_dir = tmp_path_factory.mktemp("cluster")
    api_port, aggregator_port = free_ports(API_REPLICAS), free_ports(WORKERS)
    env = cluster_env(stack, cluster_prefix, cluster_database, demo_dir, api_port, aggregator_port)
    running = Cluster(env, demo_dir, env["FUSEBOX_TOPIC_PREFIX"], api_port, aggregator_port)
    demo_sh = ["bash", str(ROOT / "deploy" / "local" / "demo.sh")]
    try:
        started = subprocess.run(["make", "-s", "-C", str(ROOT), "up-cluster"], env=env, capture_output=True,
                                 text=True, timeout=400)
        assert started.returncode == 0, started.stderr[-3000:]
        running.started_output = started.stdout
        yield running
    finally:
        subprocess.run([*demo_sh, "stop"], env=env, capture_output=True, timeout=200)
    assert not list(demo_dir.glob("*.pid")), "demo.sh stop left processes of the cluster"


def test_up_cluster_runs_three_workers_and_two_api_replicas_and_status_shows_each(cluster):
    status = subprocess.run(["bash", str(ROOT / "deploy" / "local" / "demo.sh"), "status"], env=cluster.env,
                            capture_output=True, text=True, timeout=30)
    assert status.returncode == 0, status.stdout + status.stderr
    lines = {line.split()[0]: line for line in status.stdout.splitlines()}
    assert sorted(lines) == sorted(cluster.workers + cluster.apis), status.stdout
    for i, name in enumerate(cluster.workers):
        assert " up " in lines[name] and f":{cluster.aggregator_port + i}/metrics" in lines[name]
    for i, name in enumerate(cluster.apis):
        assert " up " in lines[name] and f"http://127.0.0.1:{cluster.api_port + i}" in lines[name]
    # and `make up-cluster` said so when it returned
    assert "3 workers and 2 API replicas" in cluster.started_output
    for name in cluster.workers + cluster.apis:
        assert f"  {name} " in cluster.started_output, cluster.started_output


class SteadyProducer:
    """Outcomes for SERVICES at RATE per second: successes, and a failure now and then that never
    follows another (the breakers stay closed); counts what the broker acknowledged."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.bootstrap = bootstrap
        self.topic = CALL_OUTCOMES.name(prefix)
        self.sent: dict[str, Counter] = {service: Counter() for service in SERVICES}
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True,
                                    linger_ms=5)
        await producer.start()
        try:
            tick, index = 0.05, 0
            per_tick = max(1, round(RATE * tick))
            next_at = time.monotonic()
            while not self._stop.is_set():
                sends = []
                for _ in range(per_tick):
                    service = SERVICES[index % len(SERVICES)]
                    outcome = "failure" if (index // len(SERVICES)) % 9 == 4 else "success"
                    index += 1
                    body = {"service": service, "outcome": outcome, "latencyMs": 3.5,
                            "ts": int(time.time() * 1000), "eventId": str(uuid.uuid4()), "instance": "roll"}
                    future = await producer.send(self.topic, key=service.encode(), value=codec.dumps(body))
                    sends.append((service, outcome, future))
                for service, outcome, future in sends:
                    await future
                    self.sent[service][outcome] += 1
                next_at += tick
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        finally:
            await producer.stop()

    async def stop(self) -> None:
        self._stop.set()
        await self._task


async def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.1)


async def test_workers_restarted_one_at_a_time_under_load_lose_nothing_and_never_go_back(stack, cluster, report):
    follower = StateFollower(stack.kafka_bootstrap, cluster.prefix)
    producer = SteadyProducer(stack.kafka_bootstrap, cluster.prefix)
    await follower.start()
    await producer.start()
    pauses = []
    try:
        await wait_for(lambda: all(follower.outputs.get(s) for s in SERVICES), 60, "every service's first state")
        await asyncio.sleep(3)
        steady_gap, _ = follower.longest_silence(SERVICES, time.monotonic() - 3, time.monotonic())
        for name in cluster.workers:
            # When a worker is stopped (SIGTERM), restarted, and has become ready again
            began = time.monotonic()
            took = await cluster.restart(name)
            # ... and every service has been published again since it became ready
            ready_at = time.monotonic()
            await wait_for(lambda: all(follower.outputs[s][-1].at > ready_at for s in SERVICES), 60,
                           f"every service's output after {name} restarted")
            await asyncio.sleep(2)
            pause, service = follower.longest_silence(SERVICES, began, time.monotonic())
            pauses.append(pause)
            report(f"{name}: restart (stop, start, ready) {took:.1f} s; longest time without a breaker-states "
                   f"output for one service {pause:.2f} s ({service})")
        report(f"steady state before the restarts: longest output gap {steady_gap:.2f} s")
    finally:
        await producer.stop()
    try:
        # Then, once the load stops, every service's operations count exactly what was produced
        def exact() -> bool:
            for service in SERVICES:
                state = follower.latest(service)
                sent = producer.sent[service]
                if state is None or state["operations"]["total"] != sent["success"] + sent["failure"]:
                    return False
            return True

        produced = sum(sum(c.values()) for c in producer.sent.values())
        with contextlib.suppress(AssertionError):
            await wait_for(exact, SETTLE_S, "operations to match what was produced")
        for service in SERVICES:
            operations = follower.latest(service)["operations"]
            sent = producer.sent[service]
            assert (operations["total"], operations["successful"], operations["failed"]) == (
                sent["success"] + sent["failure"], sent["success"], sent["failure"]), service
        # And no client ever saw a service's version go back
        for service in SERVICES:
            versions = [o.version for o in follower.outputs[service]]
            regressions = [(a, b) for a, b in zip(versions, versions[1:]) if b < a]
            assert not regressions, f"{service} went back: {regressions[:5]}"
        report(f"{produced:,} outcomes at {RATE}/s over {len(SERVICES)} services; worst pause "
               f"{max(pauses):.2f} s, mean {sum(pauses) / len(pauses):.2f} s")
    finally:
        await follower.stop()
    assert produced > RATE * 10


async def test_api_replicas_restarted_one_at_a_time_lose_no_command_and_every_client_comes_back(stack, cluster,
                                                                                             report):
    token = mint_token(SECRET, "roller")
    proxy = ReadyProxy([cluster.api_port + i for i in range(API_REPLICAS)])
    await proxy.start()
    follower = StateFollower(stack.kafka_bootstrap, cluster.prefix)
    await follower.start()
    accepted: list[tuple[str, str, dict]] = []  # (request id, service, config) of every 2xx
    refused = Counter()
    stop_sending = asyncio.Event()
    statuses: dict[int, list[dict]] = {i: [] for i in range(WS_CLIENTS)}
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15),
                                 headers={"Authorization": f"Bearer {token}"})

    async def put_config(service: str, config: dict) -> int:
        request_id = f"roll-{uuid.uuid4()}"
        try:
            async with http.put(f"http://127.0.0.1:{proxy.port}{BASE}/{service}/config", json=config,
                                headers={"X-Request-Id": request_id}) as response:
                await response.read()
                if 200 <= response.status < 300:
                    accepted.append((request_id, service, config))
                else:
                    refused[response.status] += 1
                return response.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            refused[type(exc).__name__] += 1
            return 0

    def config_for(n: int) -> dict:
        return {"failureThreshold": 5 + n % 50, "resetTimeoutMs": 5000 + n, "minHealthyPeriodMs": 10000}

    async def send_changes() -> None:
        n = 0
        while not stop_sending.is_set():
            await put_config(SERVICES[n % len(SERVICES)], config_for(n))
            n += 1
            await asyncio.sleep(0.02)

    await wait_for(lambda: len(proxy.ready) == API_REPLICAS, 30, "both replicas ready behind the proxy")
    for n in range(len(SERVICES)):  # every service known before the clients connect
        assert await put_config(SERVICES[n], config_for(n)) in (200, 202)
    clients = [AdminClient(f"ws://127.0.0.1:{proxy.port}/api/admin/ws", token, statuses[i].append,
                           base_delay_s=0.5, max_delay_s=4.0)
               for i in range(WS_CLIENTS)]
    runs = [asyncio.create_task(client.run()) for client in clients]
    sender = asyncio.create_task(send_changes())
    try:
        await wait_for(lambda: all(len(c.services) == len(SERVICES) for c in clients), 60,
                       "every WebSocket client's snapshot")
        for name in cluster.apis:
            took = await cluster.restart(name)
            report(f"{name}: restart (stop, start, ready) {took:.1f} s; 2xx config changes so far {len(accepted)}")
        await asyncio.sleep(2)
        stop_sending.set()
        await sender
        # a last change to every service, so the final config of each is known
        final = {service: config_for(10_000 + i) for i, service in enumerate(SERVICES)}
        for service, config in final.items():
            assert await put_config(service, config) in (200, 202)

        # Then every client is connected again, having needed at most its 5 attempts
        for i, client in enumerate(clients):
            assert not runs[i].done(), f"client {i} gave up: {statuses[i][-3:]}"
            assert not any(s.get("gaveUp") for s in statuses[i]), i
            attempts = [s["reconnectAttempts"] for s in statuses[i] if s.get("status") == "reconnecting"]
            assert max(attempts, default=0) <= 5, (i, attempts)
        reconnected = sum(1 for i in range(WS_CLIENTS)
                          if sum(1 for s in statuses[i] if s.get("status") == "connected") >= 2)

        # And each ends with the state breaker-states holds, the final config included
        def converged() -> bool:
            for service in SERVICES:
                latest = follower.latest(service)
                if latest is None or latest["config"]["failureThreshold"] != final[service]["failureThreshold"]:
                    return False
                if any(c.services.get(service, {}).get("version") != latest["version"] for c in clients):
                    return False
            return True

        with contextlib.suppress(AssertionError):
            await wait_for(converged, 30, "the clients to hold the state of breaker-states")
        for service in SERVICES:
            latest = follower.latest(service)
            assert latest["config"]["resetTimeoutMs"] == final[service]["resetTimeoutMs"], service
            for i, client in enumerate(clients):
                assert client.services.get(service) == latest, f"client {i} differs on {service}"
    finally:
        stop_sending.set()
        for client in clients:
            await client.stop()
        await asyncio.wait(runs, timeout=30)  # a client that does not stop must not hang the suite
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        await http.close()
        await asyncio.wait_for(follower.stop(), 30)
        await asyncio.wait_for(proxy.stop(), 30)

    # And every 2xx change is in the audit log, and the aggregator applied it
    with psycopg.connect(cluster.env["FUSEBOX_DATABASE_URL"]) as conn:
        rows = dict(conn.execute(
            "SELECT request_id, (outcome, command_id::text) FROM admin_audit_log WHERE action = 'config.update'"
        ).fetchall())
    missing = [request_id for request_id, _, _ in accepted if request_id not in rows]
    assert not missing, f"{len(missing)} 2xx changes not audited"
    assert {rows[r][0] for r, _, _ in accepted} <= {"applied", "accepted"}
    results = {}
    async for record in read_from_start(stack.kafka_bootstrap, COMMAND_RESULTS.name(cluster.prefix)):
        body = codec.loads(record.value)
        results[body["commandId"]] = body
    for request_id, service, config in accepted:
        result = results.get(rows[request_id][1])
        assert result is not None and result["ok"] and result["service"] == service, request_id
        assert result["result"]["config"]["failureThreshold"] == config["failureThreshold"], request_id
    report(f"{len(accepted)} config changes answered 2xx, all audited and applied; refused or cut: "
           f"{dict(refused)}; {reconnected}/{WS_CLIENTS} WebSocket clients reconnected")
    assert reconnected == WS_CLIENTS
