"""`fusebox api`: run the admin gateway on FUSEBOX_API_HOST:FUSEBOX_API_PORT."""
from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from aiohttp import web

from fusebox.api.access_log import ACCESS_LOGGER, AccessLog
from fusebox.api.app import init_app
from fusebox.api.settings import ApiSettings


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="fusebox api", description="run the admin REST and WebSocket gateway")
    parser.add_argument("--host", default=None, help="defaults to FUSEBOX_API_HOST (127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="defaults to FUSEBOX_API_PORT (8080)")
    args = parser.parse_args(list(argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = ApiSettings.from_env()
    host = settings.host if args.host is None else args.host
    port = settings.port if args.port is None else args.port
    web.run_app(init_app(settings), host=host, port=port, shutdown_timeout=5.0, access_log=ACCESS_LOGGER,
                access_log_class=AccessLog,
                print=lambda message: logging.getLogger("fusebox.api").info(message))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(__import__("sys").argv[1:]))
