"""Records that once stopped or misled the aggregator go to the DLQ, and the fold goes on around them.

Against the real broker: records near the broker's size limit and large compressed ones, a DLQ
that refuses a dead letter, latencies that overflowed the per-minute sums, an event stamped in
year 9999, records keyed by another name or by none.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import time

import psycopg
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from fusebox.core.codec import dumps
from fusebox.core.isotime import MAX_EPOCH_MS, iso_ms
from tests.harness import Stack

from .support import Producer, Worker, command, latest_states, outcome, read_topic, wait_for


async def topic_config(stack: Stack, topic: str, name: str) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic, {name: None})])
        return {entry[0]: entry[1] for entry in response.resources[0][4]}[name]
    finally:
        await admin.close()


async def set_topic_config(stack: Stack, topic: str, name: str, value: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, {name: value})])
    finally:
        await admin.close()


async def produce(stack: Stack, topic: str, key: bytes | None, value: bytes, compression: str | None = None) -> int:
    """One record in a batch of its own; returns its offset."""
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all", compression_type=compression,
                                max_request_size=64 * 1024 * 1024, max_batch_size=64 * 1024 * 1024)
    await producer.start()
    try:
        return (await producer.send_and_wait(topic, key=key, value=value)).offset
    finally:
        await producer.stop()


async def dead_letters(stack: Stack, prefix: str) -> list:
    return await read_topic(stack, prefix + "call-outcomes.dlq")


def headers(record) -> dict[str, bytes]:
    return dict(record.headers)


async def counted(stack: Stack, prefix: str, service: str, successes: int) -> bool:
    state = (await latest_states(stack, prefix)).get(service)
    return state is not None and state["operations"]["successful"] == successes


async def test_records_too_big_to_copy_whole_are_dead_lettered_cut_and_the_fold_goes_on(
        stack: Stack, topics: str, worker: Worker) -> None:
    service = "big-records"
    limit = int(await topic_config(stack, topics + "call-outcomes.dlq", "max.message.bytes"))
    # Given an invalid record just under the broker's limit, uncompressed, and a 6 MiB one sent lz4-compressed
    near_limit = b'{"service": "big-records", "outcome": "maybe", "pad": "' + b"p" * (limit - 200) + b'"}'
    compressed = b'{"service": "big-records", "outcome": "maybe", "pad": "' + b"z" * (6 * 1024 * 1024) + b'"}'
    first = await produce(stack, topics + "call-outcomes", service.encode(), near_limit)
    second = await produce(stack, topics + "call-outcomes", service.encode(), compressed, compression="lz4")
    # When valid events follow them on the same partition
    async with Producer(stack, topics) as producer:
        await producer.outcomes([outcome(service) for _ in range(5)])

    # Then the worker folds the valid events
    await wait_for(lambda: counted(stack, topics, service, 5), 90, "the events after the big records", worker=worker)
    assert worker.process.poll() is None
    # And the DLQ holds both big records, cut to fit, saying so, with their source offsets and hashes
    letters = {int(headers(r)["fusebox.source.offset"]): r for r in await dead_letters(stack, topics)}
    assert sorted(letters) == [first, second]
    for offset, original in ((first, near_limit), (second, compressed)):
        letter, found = letters[offset], headers(letters[offset])
        assert found["fusebox.error.code"] == b"VALIDATION_FAILED"
        assert found["fusebox.truncated"] == b"1"
        assert found["fusebox.original.length"] == str(len(original)).encode()
        assert found["fusebox.original.sha256"] == hashlib.sha256(original).hexdigest().encode()
        assert original.startswith(letter.value) and limit - 1_000 < len(letter.value) < limit
        assert letter.key == service.encode()
    # And the worker goes on folding what comes next
    async with Producer(stack, topics) as producer:
        await producer.outcomes([outcome(service) for _ in range(5)])
    await wait_for(lambda: counted(stack, topics, service, 10), 60, "the next events", worker=worker)


async def test_a_dead_letter_the_dlq_refuses_is_sent_again_without_its_value(
        stack: Stack, topics: str, worker: Worker) -> None:
    service = "refused-letters"
    dlq = topics + "call-outcomes.dlq"
    async with Producer(stack, topics) as producer:
        # Given a worker that has sent one dead letter (and so knows the DLQ's limit)
        await producer.raw("call-outcomes", [(service, b"{not json")])
        await wait_for(lambda: _has_letters(stack, topics, 1), 90, "the first dead letter", worker=worker)
        # And a DLQ whose limit is then lowered below the next dead letter's size
        await set_topic_config(stack, dlq, "max.message.bytes", "4096")
        await wait_for(lambda: _config_is(stack, dlq, "max.message.bytes", "4096"), 30, "the lowered limit")
        # When a 50 kB invalid record arrives, then valid events
        original = b"{" + b"n" * 50_000
        await producer.raw("call-outcomes", [(service, original)])
        await producer.outcomes([outcome(service) for _ in range(3)])

    # Then the valid events are folded
    await wait_for(lambda: counted(stack, topics, service, 3), 90, "the events after the refused letter",
                   worker=worker)
    assert worker.process.poll() is None
    # And the DLQ holds the refused one without its value, still naming it
    first, letter = await dead_letters(stack, topics)  # one partition: in the order they were refused
    assert first.value == b"{not json"
    found = headers(letter)
    assert letter.value == b"" and found["fusebox.truncated"] == b"1"
    assert found["fusebox.original.length"] == b"50001"
    assert found["fusebox.original.sha256"] == hashlib.sha256(original).hexdigest().encode()
    assert found["fusebox.error.code"] == b"MALFORMED_JSON"


async def _has_letters(stack: Stack, prefix: str, count: int) -> bool:
    return len(await dead_letters(stack, prefix)) >= count


async def _config_is(stack: Stack, topic: str, name: str, value: str) -> bool:
    return await topic_config(stack, topic, name) == value


def stored_rollup(database_url: str, service: str) -> tuple | None:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT request_count, success_count, failure_count, latency_sum_ms FROM metric_rollups "
                            "WHERE service_name = %s AND resolution = 'minute' AND part = 0", (service,)).fetchone()


def history_statuses(database_url: str, service: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        return [row[0] for row in conn.execute("SELECT status FROM circuit_breaker_history WHERE service_name = %s "
                                               "ORDER BY seq", (service,)).fetchall()]


async def test_latencies_of_1e308_are_dead_lettered_and_rollups_and_history_are_still_written(
        stack: Stack, topics: str, database_url: str, worker: Worker) -> None:
    service = "huge-latency"
    now = int(time.time() * 1000)
    minute = now - now % 60_000 - 3 * 60_000  # a closed minute, three minutes ago
    # Given two outcomes of 1e308 ms among valid ones in one minute
    events = [outcome(service, "success", ts=minute + 1_000, latency=5.0),
              outcome(service, "success", ts=minute + 2_000, latency=1e308),
              outcome(service, "failure", ts=minute + 3_000, latency=1e308),
              outcome(service, "failure", ts=minute + 4_000, latency=7.0),
              outcome(service, "success", ts=minute + 5_000, latency=9.0)]
    async with Producer(stack, topics) as producer:
        await producer.outcomes(events)
        # When the clock moves past the minute's close
        await producer.outcomes([outcome(service, "success", ts=now)])

    # Then the minute's rollup row is written with the valid outcomes and a finite latency sum
    await wait_for(lambda: _true(stored_rollup(database_url, service) is not None), 90, "the rollup row",
                   worker=worker)
    assert stored_rollup(database_url, service) == (3, 2, 1, 21.0)
    # And the history sink keeps going (healthy, then degraded after the failure)
    await wait_for(lambda: _true(history_statuses(database_url, service) == ["healthy", "degraded"]), 60,
                   "the history rows", worker=worker)
    # And both huge latencies are in the DLQ
    letters = await dead_letters(stack, topics)
    assert sorted(headers(r)["fusebox.error.code"] for r in letters) == [b"VALIDATION_FAILED"] * 2
    assert all(b"latencyMs" in headers(r)["fusebox.error.message"] for r in letters)
    assert worker.process.poll() is None


async def _true(value: bool) -> bool:
    return value


async def test_an_event_from_year_9999_and_records_keyed_wrongly_are_dead_lettered_and_replay_agrees(
        stack: Stack, topics: str, database_url: str, worker: Worker) -> None:
    wedged, keyed = "far-future", "keyed-b"
    now = int(time.time() * 1000)
    async with Producer(stack, topics) as producer:
        # Given a breaker with a long reset timeout (no ticks while the test runs)
        await producer.commands([command(wedged, "config.update", {"failureThreshold": 5, "resetTimeoutMs": 3_600_000,
                                                                  "minHealthyPeriodMs": 0}, issued_at=now)])
        await wait_for(lambda: _configured(stack, topics, wedged), 60, "config applied", worker=worker)
        # When one success stamped 9999-12-31 arrives, then five failures of now
        await producer.outcomes([outcome(wedged, "success", ts=MAX_EPOCH_MS)])
        await producer.outcomes([outcome(wedged, "failure", ts=now + 1 + i) for i in range(5)])
        # And records of keyed-b keyed by another name and by none, then valid ones
        await producer.raw("call-outcomes", [("other-name", dumps(outcome(keyed)))])
    await produce(stack, topics + "call-outcomes", None, dumps(outcome(keyed)))
    async with Producer(stack, topics) as producer:
        await producer.outcomes([outcome(keyed) for _ in range(3)])

    # Then the breaker opens at the fifth failure, as if the stamped success never came
    await wait_for(lambda: _opened(stack, topics, wedged), 90, "the breaker open", worker=worker)
    circuit = (await latest_states(stack, topics))[wedged]["circuit"]
    assert circuit["openedAt"] == iso_ms(now + 5) and circuit["lastFailure"] == iso_ms(now + 5)
    # And only the correctly keyed events of keyed-b are counted, in its own state only
    await wait_for(lambda: counted(stack, topics, keyed, 3), 60, "keyed-b's valid events", worker=worker)
    states = await latest_states(stack, topics)
    assert "other-name" not in states and states[keyed]["operations"]["total"] == 3
    # And the three refused records are in the DLQ, each with its own code
    codes = sorted(headers(r)["fusebox.error.code"] for r in await dead_letters(stack, topics))
    assert codes == [b"EVENT_TIME_IN_FUTURE", b"KEY_MISMATCH", b"MISSING_KEY"]
    # And a replay from offset 0 gives the same verdicts: the same states and history
    await wait_for(lambda: _true(history_statuses(database_url, wedged) == ["healthy", "degraded"]), 60,
                   "the history rows", worker=worker)
    result = subprocess.run([sys.executable, "-m", "fusebox.cli", "replay"], env=worker.env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MATCH" in result.stdout


async def _configured(stack: Stack, prefix: str, service: str) -> bool:
    state = (await latest_states(stack, prefix)).get(service)
    return state is not None and state["config"]["resetTimeoutMs"] == 3_600_000


async def _opened(stack: Stack, prefix: str, service: str) -> bool:
    state = (await latest_states(stack, prefix)).get(service)
    return state is not None and state["circuit"]["state"] == "open"
