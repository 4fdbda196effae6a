"""What-if on the real stack: the actual side is what the aggregator produced; the CLI and the REST
answer agree; bad input gets the error envelope; nothing live changes."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import psycopg
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from fusebox.core.codec import dumps_sorted, loads
from fusebox.core.isotime import iso_ms
from fusebox.core.topics import BREAKER_COMMANDS, CALL_OUTCOMES
from fusebox.whatif_log import partition_of
from tests.harness import Stack
from tests.integration.api.support import admin_token, bearer, gateway_settings, running_gateway

from .support import Producer, Worker, latest_states, read_topic, wait_for
from .test_replay_and_history import AHEAD, configure, drive_incidents, transition_count_at_least

TARGET = "whatif-target"
ROUNDS = 3


def neighbour_of(service: str) -> str:
    """Another service whose records share `service`'s partitions, so the reader must skip its keys."""
    wanted = partition_of(service, CALL_OUTCOMES.partitions)
    return next(name for name in (f"whatif-neighbour-{i}" for i in range(100))
                if partition_of(name, CALL_OUTCOMES.partitions) == wanted)


def whatif_cli(worker: Worker, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fusebox.cli", "whatif", *args], env=worker.env,
                          capture_output=True, text=True, timeout=300)


def transition_documents(database_url: str, service: str) -> list[dict]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT transition FROM circuit_breaker_transitions WHERE service_name = %s "
                            "ORDER BY seq", (service,)).fetchall()
    return [row[0] for row in rows]


async def test_whatif_on_the_real_stack(stack: Stack, topics: str, database_url: str, tmp_path: Path) -> None:
    neighbour = neighbour_of(TARGET)
    services = [TARGET, neighbour]
    worker = Worker(stack, topics, database_url, tmp_path, **AHEAD).start()
    try:
        # Given a breaker (3 failures open it, a trial after 1 s) that opened and recovered 3 times,
        # beside a neighbour in the same partitions doing the same
        start = int(time.time() * 1000) + 600_000  # ahead of the wall clock: no tick interferes
        async with Producer(stack, topics) as producer:
            await configure(stack, producer, services, start - 1000, worker)
            end = await drive_incidents(producer, services, ROUNDS, start)
        await wait_for(lambda: transition_count_at_least(database_url, 3 * ROUNDS * len(services)), 90,
                       "every transition stored", worker=worker)
        states_before = await latest_states(stack, topics)
        commands_before = len(await read_topic(stack, BREAKER_COMMANDS.name(topics)))
        since, until = iso_ms(start), iso_ms(end + 10_000)

        # When the what-if runs with the config in force as candidate
        same = whatif_cli(worker, "--service", TARGET, "--since", since, "--until", until, "--config", "{}", "--json")
        assert same.returncode == 0, same.stderr
        answer = loads(same.stdout)
        # Then its actual side is what the aggregator stored, transition for transition, and the
        # candidate the same
        stored = transition_documents(database_url, TARGET)
        assert len(stored) == 3 * ROUNDS
        assert dumps_sorted(answer["actual"]["transitions"]) == dumps_sorted(stored)
        assert answer["actual"]["incidents"] == ROUNDS and answer["actual"]["rejectedCalls"] == ROUNDS
        assert dumps_sorted(answer["candidate"]) == dumps_sorted(answer["actual"])
        assert answer["eventsFolded"] == 1 + ROUNDS * 10  # its config update and its outcomes, no neighbour's

        # When a looser candidate (5 failures) is asked for over REST, Then it never opens
        # (the gateway admits records as the workers do: the same clock-skew bound)
        settings = gateway_settings(stack, topics, database_url, max_clock_skew_ms=int(AHEAD["FUSEBOX_MAX_CLOCK_SKEW_MS"]))
        async with running_gateway(settings) as gateway, \
                aiohttp.ClientSession() as http:
            url = f"{gateway.url}/api/admin/circuit-breaker/{TARGET}/whatif"
            body = {"config": {"failureThreshold": 5}, "since": since, "until": until}
            async with http.post(url, json=body, headers=bearer(admin_token())) as response:
                assert response.status == 200, await response.text()
                looser = await response.json()
            assert (looser["candidate"]["incidents"], looser["candidate"]["transitions"]) == (0, [])
            assert looser["actual"]["incidents"] == ROUNDS
            # and the CLI's --json prints the same answer
            cli = whatif_cli(worker, "--service", TARGET, "--since", since, "--until", until,
                             "--config", '{"failureThreshold": 5}', "--json")
            assert cli.returncode == 0, cli.stderr
            assert dumps_sorted(loads(cli.stdout)) == dumps_sorted(looser)

            # Bad input: an unknown service, an invalid candidate
            async with http.post(f"{gateway.url}/api/admin/circuit-breaker/nobody-here/whatif", json=body,
                                 headers=bearer(admin_token())) as response:
                assert response.status == 404 and (await response.json())["error"]["code"] == "UNKNOWN_SERVICE"
            invalid = {**body, "config": {"failureThreshold": 0}}
            async with http.post(url, json=invalid, headers=bearer(admin_token())) as response:
                refused = await response.json()
                assert response.status == 400 and refused["error"]["code"] == "VALIDATION_FAILED"
                assert refused["error"]["details"][0]["field"] == "config.failureThreshold"

            # A range beyond retention: the log's first records deleted, as retention does
            admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
            await admin.start()
            try:
                tp = TopicPartition(CALL_OUTCOMES.name(topics), partition_of(TARGET, CALL_OUTCOMES.partitions))
                await admin.delete_records({tp: RecordsToDelete(before_offset=5)})
            finally:
                await admin.close()
            old = {**body, "since": iso_ms(start - 86_400_000)}
            async with http.post(url, json=old, headers=bearer(admin_token())) as response:
                beyond = await response.json()
                assert response.status == 422 and beyond["error"]["code"] == "RANGE_BEYOND_RETENTION"
                assert beyond["error"]["details"][0]["oldestAvailable"] > old["since"]
            cli = whatif_cli(worker, "--service", TARGET, "--since", old["since"], "--config", "{}", "--json")
            assert cli.returncode == 1 and loads(cli.stderr)["error"]["code"] == "RANGE_BEYOND_RETENTION"

            # Every attempt is in the audit trail
            async with http.get(f"{gateway.url}/api/admin/circuit-breaker/{TARGET}/audit",
                                headers=bearer(admin_token())) as response:
                trail = (await response.json())
            entries = trail if isinstance(trail, list) else trail.get("entries", trail.get("data", []))
            whatifs = [(e["outcome"], e["errorCode"]) for e in entries if e["action"] == "whatif"]
            assert sorted(whatifs, key=str) == sorted([("applied", None), ("refused", "VALIDATION_FAILED"),
                                                       ("refused", "RANGE_BEYOND_RETENTION")], key=str)

        # And nothing live changed: the same states, no command written
        assert await latest_states(stack, topics) == states_before
        assert len(await read_topic(stack, BREAKER_COMMANDS.name(topics))) == commands_before
        assert len(transition_documents(database_url, TARGET)) == 3 * ROUNDS
    finally:
        worker.stop()
