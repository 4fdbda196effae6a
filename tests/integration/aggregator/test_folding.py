"""The aggregator folds outcomes and commands from the real broker into breaker state."""
from __future__ import annotations

import time
from collections import Counter

import psycopg

from fusebox.core.codec import loads
from tests.harness import Stack

from .support import Producer, Worker, command, latest_states, outcome, read_topic, wait_for


async def test_many_services_across_partitions_get_exact_counts(stack: Stack, topics: str, worker: Worker) -> None:
    # Given 40 services spread over every partition, each with its own mix of outcomes
    expected: dict[str, Counter] = {}
    events = []
    for i in range(40):
        service = f"svc-{i}.example"
        for n in range(25 + i):
            kind = "failure" if n % 7 == 3 else ("rejected" if n % 11 == 5 else "success")
            events.append(outcome(service, kind))
            expected.setdefault(service, Counter())[kind] += 1
    # When they are produced
    async with Producer(stack, topics) as producer:
        await producer.outcomes(events)

    # Then breaker-states holds each service's exact counts
    async def all_counted() -> bool:
        states = await latest_states(stack, topics)
        return len(states) == 40 and all(
            states[s]["operations"]["successful"] == c["success"] and states[s]["operations"]["failed"] == c["failure"]
            and states[s]["operations"]["rejected"] == c["rejected"]
            for s, c in expected.items() if s in states)

    await wait_for(all_counted, 60, "exact counts for 40 services", worker=worker)


async def test_a_breaker_opens_half_opens_on_a_tick_and_closes_on_success(stack: Stack, topics: str,
                                                                         database_url: str, worker: Worker) -> None:
    service = "payments-api"
    now = int(time.time() * 1000)
    async with Producer(stack, topics) as producer:
        # Given a short reset timeout
        await producer.commands([command(service, "config.update", {
            "failureThreshold": 3, "resetTimeoutMs": 1000, "minHealthyPeriodMs": 0}, issued_at=now)])
        await wait_for(lambda: has_state(stack, topics, service, lambda s: s["config"]["failureThreshold"] == 3),
                       60, "config applied", worker=worker)
        # When failureThreshold failures arrive
        failed_at = int(time.time() * 1000)
        await producer.outcomes([outcome(service, "failure", ts=failed_at + i) for i in range(3)])
        # Then the breaker opens (a new incident, opened at the third failure's time)
        await wait_for(lambda: has_state(stack, topics, service, lambda s: s["circuit"]["totalIncidents"] == 1),
                       30, "open", worker=worker)
        states = await latest_states(stack, topics)
        assert states[service]["circuit"]["state"] in ("open", "half-open")
        # And with no further traffic a tick moves it to half-open after resetTimeoutMs
        await wait_for(lambda: has_state(stack, topics, service, lambda s: s["circuit"]["state"] == "half-open"
                                         and s["circuit"]["recoveryAttempts"] == 1),
                       30, "half-open by tick", worker=worker)
        # And a success closes it
        await producer.outcomes([outcome(service, "success")])
        await wait_for(lambda: has_state(stack, topics, service,
                                         lambda s: s["circuit"]["state"] == "closed" and s["status"] == "healthy"),
                       30, "closed")
    # And breaker-states saw every circuit state in turn
    published = sorted((loads(r.value) for r in await read_topic(stack, topics + "breaker-states")
                        if r.key == service.encode()), key=lambda s: s["version"])
    sequence = [s["circuit"]["state"] for s in published]
    sequence = [c for i, c in enumerate(sequence) if i == 0 or sequence[i - 1] != c]
    assert sequence == ["closed", "open", "half-open", "closed"]
    states = await latest_states(stack, topics)
    circuit = states[service]["circuit"]
    assert circuit["totalIncidents"] == 1
    assert circuit["recoveryAttempts"] == 0  # a recovery ends the incident's attempts
    # And the command result says where the command landed among the outcomes
    results = [loads(r.value) for r in await read_topic(stack, topics + "command-results")]
    config_results = [r for r in results if r["type"] == "config.update"]
    assert config_results and config_results[0]["ok"] is True
    assert config_results[0]["result"]["config"]["failureThreshold"] == 3
    # And the config projection holds the applied config in PostgreSQL
    await wait_for(lambda: has_projected_config(database_url, service, (3, 1000, 0, None)), 30,
                   "config projected", worker=worker)


async def has_projected_config(database_url: str, service: str, expected: tuple) -> bool:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT failure_threshold, reset_timeout_ms, min_healthy_period_ms, request_limit "
                           "FROM circuit_breaker_config WHERE service_name = %s", (service,)).fetchone()
    return row == expected


async def test_malformed_and_invalid_events_go_to_the_dlq_and_good_ones_around_them_fold(
        stack: Stack, topics: str, worker: Worker) -> None:
    service = "inventory"
    good = [outcome(service) for _ in range(5)]
    async with Producer(stack, topics) as producer:
        # Given good events around a malformed one and a schema-invalid one
        await producer.outcomes(good[:2])
        await producer.raw("call-outcomes", [(service, b"{not json"),
                                             (service, b'{"service": "inventory", "outcome": "maybe"}')])
        await producer.outcomes(good[2:])

    # Then both bad records land in the DLQ with their original bytes and a reason
    async def dlq_has_both() -> bool:
        return len(await read_topic(stack, topics + "call-outcomes.dlq")) >= 2

    await wait_for(dlq_has_both, 60, "two dead letters", worker=worker)
    dead = await read_topic(stack, topics + "call-outcomes.dlq")
    assert sorted(r.value for r in dead) == sorted([b"{not json", b'{"service": "inventory", "outcome": "maybe"}'])
    codes = sorted(dict(r.headers)["fusebox.error.code"] for r in dead)
    assert codes == [b"MALFORMED_JSON", b"VALIDATION_FAILED"]
    assert {r.key for r in dead} == {service.encode()}  # keyed as their source records
    # And the five good events are folded
    await wait_for(lambda: has_state(stack, topics, service, lambda s: s["operations"]["successful"] == 5),
                   30, "good events folded")
    assert worker.process.poll() is None


async def has_state(stack: Stack, prefix: str, service: str, predicate) -> bool:
    state = (await latest_states(stack, prefix)).get(service)
    return state is not None and predicate(state)
