"""faust-streaming works with this Kafka version: an agent updates a table whose changelog lives on the broker."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.harness import Stack, free_port

APP = Path(__file__).with_name("faust_probe_app.py")


async def test_a_faust_table_changelog_records_the_counts(stack: Stack, tmp_path: Path) -> None:
    await run_probe(stack, tmp_path)


async def run_probe(stack: Stack, tmp_path: Path) -> None:
    """A minimal Faust app counts keyed words into a table; its changelog on the broker ends with the counts."""
    # Given a source topic and a minimal Faust app consuming it
    app_id = f"probe-{uuid.uuid4().hex[:8]}"
    topic = f"{app_id}.words"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 3, 1)])
    env = stack.env(PROBE_APP_ID=app_id, PROBE_BOOTSTRAP=stack.kafka_bootstrap, PROBE_TOPIC=topic,
                    PYTHONPATH=str(APP.parent))
    worker = subprocess.Popen(
        # `faust worker` serves its web views whatever the app says: on a free loopback port, not 0.0.0.0:6066
        [sys.executable, "-m", "faust", "-A", "faust_probe_app", "--datadir", str(tmp_path),
         "worker", "-l", "warn", "--web-bind", "127.0.0.1", "--web-port", str(free_port())],
        env=env, cwd=str(APP.parent), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    changelog = f"{app_id}-counts-changelog"
    try:
        # When keyed words are produced
        producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for i in range(30):
                await producer.send_and_wait(topic, key=f"k{i % 3}".encode(), value=b'"w"')
        finally:
            await producer.stop()

        # Then the table's changelog topic exists on the broker and ends with the counts
        latest: dict[str, int] = {}
        async with asyncio.timeout(90):
            while latest != {"k0": 10, "k1": 10, "k2": 10}:
                assert worker.poll() is None, worker.stdout.read().decode(errors="replace")
                if changelog in await admin.list_topics():
                    latest = await read_changelog(stack.kafka_bootstrap, changelog)
                await asyncio.sleep(0.5)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        await admin.close()


async def read_changelog(bootstrap: str, topic: str) -> dict[str, int]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    latest: dict[str, int] = {}
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            if not any(batches.values()):
                return latest
            for records in batches.values():
                for record in records:
                    latest[record.key.decode().strip('"')] = int(record.value)
    finally:
        await consumer.stop()
