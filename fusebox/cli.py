"""The `fusebox` command: one entry point, each subcommand a thin call into its own module."""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module, function, help). Modules are imported only when their command runs.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "migrate": ("fusebox.storage.migrations", "main", "apply the PostgreSQL migrations"),
    "aggregator": ("fusebox.aggregator.__main__", "main", "run an aggregator worker"),
    "api": ("fusebox.api.__main__", "main", "run the admin API and WebSocket gateway"),
    "token": ("fusebox.auth", "main", "mint an admin JWT from the configured secret"),
    "replay": ("fusebox.aggregator.replay", "main", "re-fold the topics and compare with the live state"),
    "whatif": ("fusebox.whatif_cli", "main", "what a candidate config would have done over the retained log"),
    "simulate": ("fusebox.sdk.simulate", "main", "drive simulated services through the SDK"),
    "topics": ("fusebox.kafka_admin", "main", "create the Fusebox topics with their registry settings"),
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="fusebox", description="Fusebox circuit-breaker control plane")
    parser.add_argument("command", choices=sorted(COMMANDS), help="what to run")
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        parser.error(f"unknown command {command!r}")
    module_name, func_name, _ = COMMANDS[command]
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
