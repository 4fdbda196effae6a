"""Creating the registry's topics, explicitly: the broker never auto-creates them."""
from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Iterable, Sequence

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from fusebox.core.topics import ALL_TOPICS, DEFAULT_OUTCOME_RETENTION_DAYS, TopicSpec, with_outcome_retention
from fusebox.kafka_security import kafka_client_options
from fusebox.settings import Settings

logger = logging.getLogger("fusebox.kafka_admin")


async def ensure_topics(bootstrap: str, prefix: str, specs: Iterable[TopicSpec] = ALL_TOPICS, *,
                        replication_factor: int = 1, min_insync_replicas: int | None = None,
                        outcome_retention_days: int = DEFAULT_OUTCOME_RETENTION_DAYS) -> list[str]:
    """Create every topic of `specs` that does not exist yet; return the names created.

    The re-fold inputs (call-outcomes, breaker-commands, command-results) are created with
    `outcome_retention_days` of retention. Existing topics are left as they are: their
    partitions, replicas and retention are the operator's.
    """
    specs = [with_outcome_retention(spec, outcome_retention_days) for spec in specs]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000,
                                **kafka_client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        durability = {} if min_insync_replicas is None else {"min.insync.replicas": str(min_insync_replicas)}
        wanted = [
            NewTopic(name=spec.name(prefix), num_partitions=spec.partitions,
                     replication_factor=replication_factor, topic_configs={**spec.config(), **durability})
            for spec in specs
            if spec.name(prefix) not in existing
        ]
        if not wanted:
            return []
        response = await admin.create_topics(wanted)
        created = []
        for name, code, message in _topic_errors(response):
            if code == 0:
                created.append(name)
            elif code != TopicAlreadyExistsError.errno:
                raise RuntimeError(f"could not create topic {name}: error {code} {message}")
        logger.info("created topics %r", created)
        return created
    finally:
        await admin.close()


def _topic_errors(response) -> list[tuple[str, int, str | None]]:
    rows = []
    for entry in response.topic_errors:
        name, code = entry[0], entry[1]
        message = entry[2] if len(entry) > 2 else None
        rows.append((name, code, message))
    return rows


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="fusebox topics")
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    settings = Settings.from_env()
    created = asyncio.run(ensure_topics(settings.kafka_bootstrap, settings.topic_prefix,
                                        replication_factor=settings.topic_replication_factor,
                                        min_insync_replicas=settings.topic_min_insync_replicas,
                                        outcome_retention_days=settings.outcome_retention_days))
    print(f"topics ready ({len(created)} created)")
    return 0
