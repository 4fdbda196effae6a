"""One aggregator worker per test, on the test's own topics and database."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import Stack

from .support import Worker


@pytest.fixture
def worker(stack: Stack, topics: str, database_url: str, tmp_path: Path):
    running = Worker(stack, topics, database_url, tmp_path).start()
    yield running
    running.stop()
