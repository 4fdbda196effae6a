"""kill -9 one of two API replicas during a stream of config changes: every change answered 2xx is applied
(its CommandResult on command-results, its config in breaker-states) and audited."""
from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aiohttp
import psycopg

from fusebox.core.codec import loads
from tests.chaos.support import ApiProcess, Figures, Profile, Stopwatch
from tests.harness import Stack
from tests.integration.aggregator.support import Worker, latest_states, read_topic, wait_for
from tests.integration.api.support import BASE, admin_token, bearer

AUTH = bearer(admin_token("chaos-ops"))
SERVICES = [f"replica-{i}" for i in range(4)]


class Change:
    def __init__(self, service: str, n: int) -> None:
        self.service = service
        self.request_id = f"chaos-{uuid.uuid4()}"
        self.config = {"failureThreshold": n % 9000 + 1, "resetTimeoutMs": 1000 + n, "minHealthyPeriodMs": n}
        self.status: int | None = None
        self.answer: dict | None = None
        self.replica: int | None = None


async def send(http: aiohttp.ClientSession, replica: ApiProcess, change: Change) -> bool:
    """PUT the change; False when the replica could not be reached or gave no answer."""
    try:
        async with http.put(f"{replica.url}{BASE}/{change.service}/config", json=change.config,
                            headers={**AUTH, "X-Request-Id": change.request_id},
                            timeout=aiohttp.ClientTimeout(total=20)) as response:
            change.status, change.answer = response.status, await response.json()
            return True
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return False


def audit_rows(database_url: str) -> dict[str, tuple]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT request_id, outcome, command_id::text, request, service_name "
                            "FROM admin_audit_log WHERE action = 'config.update'").fetchall()
    return {r[0]: r[1:] for r in rows}


async def test_kill_9_one_of_two_api_replicas_during_config_changes(
        stack: Stack, topics: str, database_url: str, tmp_path: Path, profile: Profile, figures: Figures) -> None:
    worker = Worker(stack, topics, database_url, tmp_path).start()
    replica_env = dict(FUSEBOX_API_RATE_LIMIT_BURST="1000000", FUSEBOX_API_RATE_LIMIT_PER_MINUTE="1000000",
                       FUSEBOX_API_COMMAND_TIMEOUT_MS="3000")
    replicas = [ApiProcess(stack, topics, database_url, tmp_path, **replica_env).start() for _ in range(2)]
    changes: list[Change] = []
    unanswered = 0
    try:
        async with aiohttp.ClientSession() as http:
            for replica in replicas:
                await wait_for(lambda: replica.ready(http, AUTH), 90, f"the API on {replica.port}", every=0.5)
            per_service = profile.config_changes // len(SERVICES)
            kill_after = profile.config_changes // 3
            alive = [True, True]
            sent = 0
            clock = Stopwatch()

            async def stream(service: str, offset: int) -> None:
                """One service's changes, one after another, spread over both replicas."""
                nonlocal sent, unanswered
                for n in range(per_service):
                    change = Change(service, offset + n)
                    changes.append(change)
                    target = (offset // 10_000 + n) % 2
                    if not alive[target]:
                        target = 1 - target
                    change.replica = target
                    sent += 1
                    if not await send(http, replicas[target], change):
                        unanswered += 1  # the replica died under it: no answer, so no promise

            async def kill_one_mid_stream() -> None:
                while sent < kill_after:
                    await asyncio.sleep(0.002)
                alive[1] = False  # new changes go to the survivor; those in flight to this one are cut
                replicas[1].kill()

            await asyncio.wait_for(asyncio.gather(kill_one_mid_stream(),
                                                  *(stream(s, i * 10_000) for i, s in enumerate(SERVICES))), 600)
            streamed_s = clock()

        ok = [c for c in changes if c.status in (200, 202)]
        others = [(c.status, c.answer) for c in changes if c.status is not None and c.status not in (200, 202)]
        assert others == [], others[:5]
        assert replicas[0].process.poll() is None, replicas[0].log()

        # Then every change answered 2xx is audited with its command ...
        audit = audit_rows(database_url)
        for change in ok:
            outcome, command_id, request, service = audit[change.request_id]
            assert (outcome, request, service) == ({200: "applied", 202: "accepted"}[change.status], change.config,
                                                   change.service), (change.status, audit[change.request_id])
            assert command_id is not None
            if change.status == 202:
                assert change.answer["commandId"] == command_id

        # ... and applied: its CommandResult is ok with that config, and each service ends on its last change
        async def results() -> dict[str, dict]:
            return {v["commandId"]: v for v in (loads(r.value) for r in
                                                 await read_topic(stack, topics + "command-results"))}

        wanted = {audit[c.request_id][1] for c in ok}

        async def all_results() -> bool:
            return wanted <= set(await results())

        await wait_for(all_results, 60, "a CommandResult for every 2xx change", worker=worker)
        found = await results()
        for change in ok:
            result = found[audit[change.request_id][1]]
            assert result["ok"] is True, result
            assert {k: result["result"]["config"][k] for k in change.config} == change.config
        states = await latest_states(stack, topics)
        for service in SERVICES:
            last = [c for c in changes if c.service == service and c.status in (200, 202)][-1]
            assert {k: states[service]["config"][k] for k in last.config} == last.config
        cut = [audit.get(c.request_id, ("not audited",))[0] for c in changes if c.status is None]
        figures.record("API replica kill -9", changes=len(changes), answered_2xx=len(ok),
                       applied_200=sum(c.status == 200 for c in ok), accepted_202=sum(c.status == 202 for c in ok),
                       unanswered=unanswered, audit_of_unanswered="/".join(cut) or "-", audited=len(ok),
                       streamed_s=streamed_s, changes_per_s=len(changes) / streamed_s)
        assert unanswered <= len(SERVICES)  # at most the requests in flight when the replica died
    finally:
        for replica in replicas:
            replica.stop()
        worker.stop()
