"""`make demo` from the outside, on the test stack's ports: traffic flows and a breaker opens and recovers."""
from __future__ import annotations

import asyncio
import re
import subprocess
import time
import uuid
from pathlib import Path

import aiohttp

from fusebox.auth import mint_token
from tests.harness import ROOT, Stack, free_port

SECRET = "demo-test-secret-0123456789abcdef0123456789"
DEADLINE_S = 120


def demo_env(stack: Stack, database_url: str, demo_dir: Path, api_port: int) -> dict[str, str]:
    env = dict(stack.stack_env)
    env.update(stack.env(
        FUSEBOX_DATABASE_URL=database_url,
        FUSEBOX_TOPIC_PREFIX=f"demo{uuid.uuid4().hex[:8]}.",
        FUSEBOX_DEMO_DIR=str(demo_dir),
        FUSEBOX_API_PORT=str(api_port),
        FUSEBOX_AGGREGATOR_PORT=str(free_port()),
        FUSEBOX_JWT_SECRET=SECRET,
        FUSEBOX_TICK_INTERVAL_MS="200",
        # the incident script compressed: inventory-db goes down ~6 s into the run, back ~7 s later
        FUSEBOX_SIMULATE_ARGS="--incident-scale 0.3 --rate 80 --report-every 5",
    ))
    return env


async def test_make_demo_shows_traffic_and_a_breaker_that_opens_and_recovers(stack: Stack, database_url: str,
                                                                             tmp_path: Path) -> None:
    api_port = free_port()
    env = demo_env(stack, database_url, tmp_path / "demo", api_port)
    demo_sh = ["bash", str(ROOT / "deploy" / "local" / "demo.sh")]
    try:
        # Given `make demo`, which returns once everything runs
        started = subprocess.run(["make", "-s", "-C", str(ROOT), "demo"], env=env, capture_output=True, text=True,
                                 timeout=DEADLINE_S)
        assert started.returncode == 0, started.stderr[-3000:]
        # It prints where to look: the API, a token, a curl and a WebSocket command
        assert f"http://127.0.0.1:{api_port}/api/admin/circuit-breaker/status" in started.stdout
        assert "curl -s -H \"Authorization: Bearer " in started.stdout and "fusebox.sdk.watch" in started.stdout
        # and the dashboard link, its admin token in the fragment (which a browser never sends)
        link = re.search(rf"http://127\.0\.0\.1:{api_port}/dashboard/#token=([A-Za-z0-9._-]+)", started.stdout)
        assert link, started.stdout
        async with aiohttp.ClientSession() as http:
            async with http.get(link.group(0).split("#")[0]) as response:
                assert response.status == 200 and response.headers["Content-Type"].startswith("text/html")
            async with http.get(f"http://127.0.0.1:{api_port}/api/admin/circuit-breaker/status",
                                headers={"Authorization": f"Bearer {link.group(1)}"}) as response:
                assert response.status == 200

        # When we watch /status
        token = mint_token(SECRET, "demo-test")
        seen_open: set[str] = set()
        recovered: set[str] = set()
        states: list[dict] = []
        deadline = time.monotonic() + DEADLINE_S
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
            while time.monotonic() < deadline:
                async with http.get(f"http://127.0.0.1:{api_port}/api/admin/circuit-breaker/status") as response:
                    assert response.status == 200, await response.text()
                    states = await response.json()
                for state in states:
                    if state["circuit"]["state"] != "closed":
                        seen_open.add(state["service"])
                    elif state["service"] in seen_open and state["circuit"]["totalIncidents"] >= 1:
                        recovered.add(state["service"])
                if len(states) == 12 and all(s["operations"]["total"] > 0 for s in states) and recovered:
                    break
                await asyncio.sleep(0.3)

        # Then every simulated service is listed with operations, and a breaker opened and recovered
        log = (tmp_path / "demo" / "simulate.log").read_text(errors="replace")[-2000:]
        assert len(states) == 12, ([s["service"] for s in states], log)
        assert all(s["operations"]["total"] > 0 for s in states), log
        assert recovered, (seen_open, log)
        assert any(s["operations"]["rejected"] > 0 for s in states)  # the SDK short-circuited while open
        # And a second `make demo` leaves the running demo alone
        again = subprocess.run(["make", "-s", "-C", str(ROOT), "demo"], env=env, capture_output=True, text=True,
                               timeout=DEADLINE_S)
        assert again.returncode == 0 and "api already running" in again.stderr, again.stderr[-2000:]
    finally:
        # And demo.sh stop stops every process
        subprocess.run([*demo_sh, "stop"], env=env, timeout=120)
    status = subprocess.run([*demo_sh, "status"], env=env, capture_output=True, text=True, timeout=30)
    assert status.returncode != 0 and status.stdout.count("down") == 3, status.stdout
    assert not list((tmp_path / "demo").glob("*.pid"))
