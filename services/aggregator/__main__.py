"""`fusebox aggregator`: create the topics, then run one Faust worker."""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import faust

from fusebox.core.topics import ALL_TOPICS
from fusebox.kafka_admin import ensure_topics

from .app import create_aggregator
from .settings import AggregatorSettings


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="fusebox aggregator", description="run an aggregator worker")
    parser.add_argument("--loglevel", default="info", choices=["crit", "error", "warn", "info", "debug"])
    args = parser.parse_args(list(argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = AggregatorSettings.from_env()
    asyncio.run(ensure_topics(settings.shared.kafka_bootstrap, settings.shared.topic_prefix, ALL_TOPICS))
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    aggregator = create_aggregator(settings)
    worker = faust.Worker(aggregator.app, loglevel=args.loglevel, redirect_stdouts=False)
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
