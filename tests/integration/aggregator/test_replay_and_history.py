"""Replay rebuilds the live states and history; the history sink survives a PostgreSQL outage."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psycopg

from tests.harness import Stack

from fusebox.core.codec import loads

from .support import Producer, Worker, command, latest_states, outcome, read_topic, wait_for

FLAPPY = ["flappy-a", "flappy-b", "flappy-c"]
# These runs stamp events ten minutes ahead of the wall clock, so that no tick interferes; their
# workers (and replays, which share the workers' environment) allow an hour of clock skew.
AHEAD = {"FUSEBOX_MAX_CLOCK_SKEW_MS": str(3_600_000)}


async def drive_incidents(producer: Producer, services: list[str], rounds: int, start_ms: int) -> int:
    """Open and recover each service `rounds` times with event times only; returns the last event time."""
    t = start_ms
    for _ in range(rounds):
        events = []
        for service in services:
            events += [outcome(service, "failure", ts=t + i) for i in range(3)]  # opens (threshold 3)
            events += [outcome(service, "failure", ts=t + 200)]  # counted while open
            events += [outcome(service, "success", ts=t + 1200)]  # after resetTimeout: half-open, then closes
            events += [outcome(service, "success", ts=t + 1300 + i) for i in range(5)]
        await producer.outcomes(events)
        t += 5000
    return t


def history_rows(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT service_name, seq, timestamp, status, duration_ms, incidents "
                            "FROM circuit_breaker_history ORDER BY service_name, seq").fetchall()


def transition_rows(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT service_name, seq, at, from_state, to_state, rule, transition "
                            "FROM circuit_breaker_transitions ORDER BY service_name, seq").fetchall()


async def transition_count_at_least(database_url: str, count: int) -> bool:
    try:
        return len(transition_rows(database_url)) >= count
    except psycopg.OperationalError:
        return False


async def shadow_transition_count_at_least(database_url: str, count: int) -> bool:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT transition FROM circuit_breaker_transitions WHERE shadow").fetchall()
    return len(rows) >= count and all(row[0]["shadow"] is True for row in rows)


async def has_shadow(stack: Stack, prefix: str, service: str, present: bool) -> bool:
    state = (await latest_states(stack, prefix)).get(service)
    return state is not None and ("shadow" in state) == present


def replay(worker: Worker, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fusebox.cli", "replay", *args], env=worker.env,
                          capture_output=True, text=True, timeout=300)


async def configure(stack: Stack, producer: Producer, services: list[str], at: int, worker: Worker) -> None:
    """Apply a short-timeout config and wait until it is folded (commands and outcomes are separate topics)."""
    await producer.commands([command(s, "config.update", {"failureThreshold": 3, "resetTimeoutMs": 1000,
                                                          "minHealthyPeriodMs": 500}, issued_at=at)
                             for s in services])

    async def applied() -> bool:
        states = await latest_states(stack, producer.prefix)
        return all(s in states and states[s]["config"]["failureThreshold"] == 3 for s in services)

    await wait_for(applied, 60, "config applied", worker=worker)


async def test_replay_rebuilds_identical_states_and_history_rows(stack: Stack, topics: str, database_url: str,
                                                                 tmp_path: Path) -> None:
    # Given a run with openings and recoveries, config updates and a reset, and a shadow config on
    # flappy-b (docs/shadow-config.md) that opens on 2 failures, set before the outcomes and promoted after,
    # and one on flappy-c still set when the states are compared
    worker = Worker(stack, topics, database_url, tmp_path, **AHEAD).start()
    try:
        start = int(time.time() * 1000) + 600_000  # event times ahead of the wall clock: no ticks interfere
        async with Producer(stack, topics) as producer:
            await configure(stack, producer, FLAPPY, start, worker)
            await producer.commands([command("flappy-b", "shadow-config.set",
                                             {"failureThreshold": 2, "resetTimeoutMs": 600}, issued_at=start + 1),
                                     command("flappy-c", "shadow-config.set",
                                             {"failureThreshold": 5}, issued_at=start + 1)])
            await wait_for(lambda: has_shadow(stack, topics, "flappy-b", True), 60, "the shadow set", worker=worker)
            await wait_for(lambda: has_shadow(stack, topics, "flappy-c", True), 60, "the shadow set", worker=worker)
            end = await drive_incidents(producer, FLAPPY, rounds=3, start_ms=start + 10)
            await wait_for(lambda: incidents_seen(stack, topics, 3), 90, "three incidents per service",
                           worker=worker)
            # (the reset is sent once the outcomes are folded: the two topics are not ordered together)
            await producer.commands([command("flappy-a", "breaker.reset",
                                             {"reason": "replay test", "force": True}, issued_at=end),
                                     command("flappy-b", "shadow-config.promote", {}, issued_at=end)])
            await producer.outcomes([outcome("flappy-a", "success", ts=end + 10)])
        await wait_for(lambda: has_total(stack, topics, "flappy-a", 31), 60, "the reset and one more success",
                       worker=worker)
        await wait_for(lambda: has_shadow(stack, topics, "flappy-b", False), 60, "the shadow promoted",
                       worker=worker)
        assert (await latest_states(stack, topics))["flappy-b"]["config"]["failureThreshold"] == 2
        assert (await latest_states(stack, topics))["flappy-c"]["shadow"]["failureCount"] == 0
        await wait_for(lambda: history_count_at_least(database_url, 3 * 3 * 2), 60, "history rows", worker=worker)
        assert len(history_rows(database_url)) >= 18
        # (each round opens, half-opens and closes each service)
        await wait_for(lambda: transition_count_at_least(database_url, 3 * 3 * 3), 60, "transition rows",
                       worker=worker)
        assert {row[5] for row in transition_rows(database_url)} == {
            "consecutive-failures", "reset-timeout-elapsed", "trial-succeeded"}
        # (the shadow breaker opens, half-opens and closes in each round too)
        await wait_for(lambda: shadow_transition_count_at_least(database_url, 3 * 3), 60, "shadow transition rows",
                       worker=worker)

        # When the topics are re-folded from offset 0
        result = replay(worker)

        # Then the rebuilt states, history and transitions equal the live ones
        assert result.returncode == 0, result.stdout + result.stderr
        assert "MATCH" in result.stdout
    finally:
        worker.stop()


async def test_replay_reports_a_mismatch_when_history_was_lost_and_rebuilds_it(
        stack: Stack, topics: str, database_url: str, tmp_path: Path) -> None:
    # Given a run with history, then rows lost from PostgreSQL
    worker = Worker(stack, topics, database_url, tmp_path, **AHEAD).start()
    try:
        start = int(time.time() * 1000) + 600_000  # event times ahead of the wall clock: no ticks interfere
        async with Producer(stack, topics) as producer:
            await configure(stack, producer, FLAPPY[:1], start, worker)
            await drive_incidents(producer, FLAPPY[:1], rounds=2, start_ms=start + 10)
        await wait_for(lambda: history_count_at_least(database_url, 4), 90, "history rows", worker=worker)
        await wait_for(lambda: incidents_seen(stack, topics, 2, FLAPPY[:1]), 60, "two incidents", worker=worker)
        await wait_for(lambda: transition_count_at_least(database_url, 2 * 3), 60, "transition rows", worker=worker)
        before = history_rows(database_url)
        transitions_before = transition_rows(database_url)
        with psycopg.connect(database_url) as conn:
            conn.execute("DELETE FROM circuit_breaker_history WHERE seq % 2 = 0")
            conn.execute("DELETE FROM circuit_breaker_transitions WHERE seq % 2 = 1")

        # When replay compares, Then it reports the difference
        mismatch = replay(worker)
        assert mismatch.returncode == 1
        assert "transition ('flappy-a', False, 1)" in mismatch.stdout
        # And with --write-history it rebuilds the lost rows exactly
        rebuilt = replay(worker, "--write-history")
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert history_rows(database_url) == before
        assert transition_rows(database_url) == transitions_before
    finally:
        worker.stop()


async def test_history_flowing_through_a_postgresql_outage_is_neither_lost_nor_duplicated(
        stack: Stack, topics: str, database_url: str, tmp_path: Path) -> None:
    worker = Worker(stack, topics, database_url, tmp_path, **AHEAD).start()
    try:
        start = int(time.time() * 1000) + 600_000
        async with Producer(stack, topics) as producer:
            await configure(stack, producer, FLAPPY, start, worker)
            # Given history flowing
            t = await drive_incidents(producer, FLAPPY, rounds=2, start_ms=start + 10)
            await wait_for(lambda: history_count_at_least(database_url, 6), 60, "history before outage",
                           worker=worker)
            # When PostgreSQL stops while more history is produced, then starts again
            stack.stop_postgres()
            try:
                await drive_incidents(producer, FLAPPY, rounds=3, start_ms=t)
                await wait_for(lambda: incidents_seen(stack, topics, 5), 60, "five incidents folded", worker=worker)
            finally:
                stack.start_postgres()
        # Then every history entry lands exactly once
        await wait_for(lambda: history_matches_states(stack, topics, database_url), 90,
                       "history rows for every ended period", worker=worker)
        rows = history_rows(database_url)
        keys = [(r[0], r[1]) for r in rows]
        assert len(keys) == len(set(keys))
        for service in FLAPPY:
            seqs = [r[1] for r in rows if r[0] == service]
            assert seqs == list(range(1, len(seqs) + 1))
    finally:
        worker.stop()


async def incidents_seen(stack: Stack, prefix: str, count: int, services: list[str] = FLAPPY) -> bool:
    states = await latest_states(stack, prefix)
    return all(s in states and states[s]["circuit"]["totalIncidents"] >= count
               and states[s]["circuit"]["state"] == "closed" for s in services)


async def has_total(stack: Stack, prefix: str, service: str, total: int) -> bool:
    state = (await latest_states(stack, prefix)).get(service)
    return state is not None and state["operations"]["total"] == total


async def history_count_at_least(database_url: str, count: int) -> bool:
    try:
        return len(history_rows(database_url)) >= count
    except psycopg.OperationalError:
        return False


async def history_matches_states(stack: Stack, prefix: str, database_url: str) -> bool:
    """PostgreSQL holds exactly the distinct (service, seq) entries published on health-history."""
    try:
        rows = history_rows(database_url)
    except psycopg.OperationalError:
        return False
    published = {(v["service"], v["seq"]) for v in
                 (loads(r.value) for r in await read_topic(stack, prefix + "health-history"))}
    return len(published) >= 30 and sorted(published) == [(r[0], r[1]) for r in rows]
