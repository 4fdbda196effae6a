"""Two deployments (two topic prefixes) on one database keep their rows apart, each in its own schema."""
from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import psycopg

from fusebox.core.codec import loads
from fusebox.kafka_admin import ensure_topics
from fusebox.storage.schema import schema_for_prefix
from tests.harness import Stack, drop_database
from tests.integration.api.support import BASE, admin_token, bearer, gateway_settings, running_gateway

from .support import Worker, Producer, read_topic, wait_for
from .test_replay_and_history import drive_incidents, replay

SHARED = "shared-svc"  # the same service name in both deployments: its (service, seq) history keys collide
TABLES = ("circuit_breaker_history", "circuit_breaker_config", "admin_audit_log", "metric_rollups",
          "metric_rollups_live")


def plain_database(stack: Stack) -> str:
    """An empty database of its own, addressed as a deployment would: no schema in the URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return stack.database_url.rsplit("/", 1)[0] + "/" + name


def migrate(stack: Stack, prefix: str, database_url: str) -> str:
    result = subprocess.run([sys.executable, "-m", "fusebox.cli", "migrate"], capture_output=True, text=True,
                            env=stack.env(FUSEBOX_TOPIC_PREFIX=prefix, FUSEBOX_DATABASE_URL=database_url), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def rows(database_url: str, schema: str, query: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        conn.execute(psycopg.sql.SQL("SET search_path TO {}").format(psycopg.sql.Identifier(schema)))
        return conn.execute(query).fetchall()


def tables_in(database_url: str, schema: str) -> set[str]:
    with psycopg.connect(database_url) as conn:
        return {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                                           (schema,))}


async def history_on_topic(stack: Stack, prefix: str) -> dict[tuple[str, int], str]:
    entries = (loads(r.value) for r in await read_topic(stack, prefix + "health-history"))
    return {(e["service"], e["seq"]): e["status"] for e in entries}


async def test_two_deployments_on_one_database_write_only_their_own_schema_and_replay_matches(
        stack: Stack, tmp_path: Path) -> None:
    # Given two deployments with their own prefixes and the same service name, migrated into one database
    database_url = plain_database(stack)
    prefixes = {"a": f"ta{uuid.uuid4().hex[:8]}.", "b": f"tb{uuid.uuid4().hex[:8]}."}
    own = {"a": [SHARED, "only-a"], "b": [SHARED, "only-b"]}
    thresholds = {"a": 3, "b": 4}
    schemas = {k: schema_for_prefix(p) for k, p in prefixes.items()}
    workers = {}
    try:
        for key, prefix in prefixes.items():
            await ensure_topics(stack.kafka_bootstrap, prefix)
            assert f"schema {schemas[key]}" in migrate(stack, prefix, database_url)
            assert set(TABLES) <= tables_in(database_url, schemas[key])
        assert not set(TABLES) & tables_in(database_url, "public")
        workers = {key: Worker(stack, prefix, database_url, tmp_path).start() for key, prefix in prefixes.items()}

        # When each is configured through its own API and folds incidents of its own
        start = int(time.time() * 1000) + 600_000  # event times ahead of the wall clock: no ticks interfere
        for key, prefix in prefixes.items():
            settings = gateway_settings(stack, prefix, database_url)
            async with running_gateway(settings) as gateway, aiohttp.ClientSession() as http:
                for service in own[key]:
                    body = {"failureThreshold": thresholds[key], "resetTimeoutMs": 1000, "minHealthyPeriodMs": 500}
                    headers = bearer(admin_token(f"admin-{key}"))
                    async with http.put(f"{gateway.url}{BASE}/{service}/config", json=body, headers=headers) as answer:
                        assert answer.status in (200, 202), await answer.text()
            async with Producer(stack, prefix) as producer:
                await drive_incidents(producer, own[key], rounds=2 if key == "a" else 3, start_ms=start + 10)

        async def each_stored_its_own() -> bool:
            for key, prefix in prefixes.items():
                history = rows(database_url, schemas[key], "SELECT service_name, seq, status FROM circuit_breaker_history")
                if {(s, q): st for s, q, st in history} != await history_on_topic(stack, prefix) or not history:
                    return False
                rollups = rows(database_url, schemas[key], "SELECT DISTINCT service_name FROM metric_rollups_live"
                                                           " UNION SELECT service_name FROM metric_rollups")
                if {r[0] for r in rollups} != set(own[key]):
                    return False
            return True

        await wait_for(each_stored_its_own, 120, "each deployment's history and rollups", worker=workers["b"])

        # Then each schema holds exactly its own deployment's rows
        for key in prefixes:
            configs = rows(database_url, schemas[key], "SELECT service_name, failure_threshold FROM circuit_breaker_config")
            assert sorted(configs) == sorted((s, thresholds[key]) for s in own[key])
            audit = rows(database_url, schemas[key], "SELECT DISTINCT admin_id, service_name FROM admin_audit_log")
            assert sorted(audit) == sorted((f"admin-{key}", s) for s in own[key])
        # And a replay of each deployment finds no difference, whatever the other wrote
        for key, worker in workers.items():
            result = replay(worker)
            assert result.returncode == 0, result.stdout + result.stderr
            assert "MATCH" in result.stdout
    finally:
        for worker in workers.values():
            worker.stop()
        drop_database(stack.database_url, database_url)
