"""The gateway with the real aggregator: per test one aggregator worker, one gateway in the test's
process, an HTTP session and a producer of outcomes, on the test's own topics and database."""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from tests.integration.aggregator.support import Producer, Worker
from tests.integration.api.support import Gateway, admin_token, bearer, gateway_settings, running_gateway

AUTH = bearer(admin_token("erin"))


@dataclass
class LiveStack:
    gateway: Gateway
    http: aiohttp.ClientSession
    producer: Producer


@pytest.fixture
async def live(stack, topics, database_url, tmp_path) -> AsyncIterator[LiveStack]:
    worker = Worker(stack, topics, database_url, tmp_path).start()
    try:
        settings = gateway_settings(stack, topics, database_url, command_timeout_ms=15_000)
        async with running_gateway(settings) as gateway, aiohttp.ClientSession() as http, \
                Producer(stack, topics) as producer:
            yield LiveStack(gateway, http, producer)
    finally:
        worker.stop()
