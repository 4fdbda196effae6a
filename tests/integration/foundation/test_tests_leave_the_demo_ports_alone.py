"""Tests bind free 127.0.0.1 ports only, so `make test` runs beside `make demo` (which holds the default ports)."""
from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import aiohttp

from fusebox.settings import Settings
from tests.harness import Stack
from tests.integration.api.support import gateway_settings, running_gateway

from .test_faust_runs_on_this_broker import run_probe

# The demo's defaults: the aggregator's web port (also Faust's own default) and the API's port.
DEMO_PORTS = (6066, 8080)


@contextlib.contextmanager
def ports_taken(ports: tuple[int, ...]) -> Iterator[None]:
    """Listen on each port of 127.0.0.1, as the demo would; a port another program holds is taken already."""
    held = []
    try:
        for port in ports:
            sock = socket.socket()
            try:
                sock.bind(("127.0.0.1", port))
                sock.listen()
                held.append(sock)
            except OSError:
                sock.close()
                with socket.create_connection(("127.0.0.1", port), timeout=2):
                    pass  # something else listens there: taken, as the test needs
        yield
    finally:
        for sock in held:
            sock.close()


def test_the_defaults_are_the_ports_held_here(monkeypatch):
    for name in ("FUSEBOX_AGGREGATOR_PORT", "FUSEBOX_API_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env()
    assert (settings.aggregator_port, settings.api_port) == DEMO_PORTS


async def test_the_faust_probe_and_a_gateway_run_while_the_demo_ports_are_taken(stack: Stack, tmp_path: Path,
                                                                                  topics: str, database_url: str):
    with ports_taken(DEMO_PORTS):
        await run_probe(stack, tmp_path)
        async with running_gateway(gateway_settings(stack, topics, database_url)) as gateway, \
                aiohttp.ClientSession() as http:
            assert gateway.server.host == "127.0.0.1" and gateway.server.port not in DEMO_PORTS
            async with http.get(f"{gateway.url}/healthz") as response:
                assert response.status == 200
