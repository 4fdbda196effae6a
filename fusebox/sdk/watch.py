"""`python -m fusebox.sdk.watch`: print the admin WebSocket's updates, one line each (or raw JSON).

    .venv/bin/python -m fusebox.sdk.watch                       # ws://127.0.0.1:$FUSEBOX_API_PORT/api/admin/ws
    .venv/bin/python -m fusebox.sdk.watch --raw --token "$TOKEN" --url ws://host:8080/api/admin/ws

Without --token, a 1-hour admin token is minted from FUSEBOX_JWT_SECRET (the dev secret by default).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from datetime import datetime

from fusebox.core import codec
from fusebox.sdk.admin_client import AdminClient


def describe(event: dict) -> str | None:
    kind = event.get("type")
    now = datetime.now().strftime("%H:%M:%S")
    if kind == "service:update":
        data = event.get("data") or {}
        circuit, ops = data.get("circuit") or {}, data.get("operations") or {}
        return (f"{now}  {event.get('service', '?'):<18} {circuit.get('state', '?'):<9} {data.get('status', '?'):<8}"
                f" failures={circuit.get('failureCount', 0):<3} ops={ops.get('total', 0)}"
                f" failed={ops.get('failed', 0)} rejected={ops.get('rejected', 0)}")
    if kind == "connection:status":
        return f"{now}  -- connection {event.get('status')} (reconnectAttempts={event.get('reconnectAttempts', 0)})"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    port = os.environ.get("FUSEBOX_API_PORT") or "8080"
    parser = argparse.ArgumentParser(prog="python -m fusebox.sdk.watch", description="watch breaker updates live")
    parser.add_argument("--url", default=f"ws://127.0.0.1:{port}/api/admin/ws")
    parser.add_argument("--token", default=os.environ.get("FUSEBOX_TOKEN"), help="an admin JWT (default: minted)")
    parser.add_argument("--raw", action="store_true", help="print every message as JSON")
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    token = args.token
    if not token:
        from fusebox.auth import mint_token
        from fusebox.settings import Settings

        settings = Settings.from_env()
        token = mint_token(settings.required_jwt_secret(), "fusebox-watch", ttl_s=3600, issuer=settings.jwt_issuer,
                           audience=settings.jwt_audience)

    def on_event(event: dict) -> None:
        line = codec.dumps(event).decode() if args.raw else describe(event)
        if line is not None:
            print(line, flush=True)

    async def run() -> int:
        client = AdminClient(args.url, token, on_event)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(client.stop()))
        return 0 if await client.run() else 1

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
