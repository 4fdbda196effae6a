"""Versioned PostgreSQL migrations (yoyo-migrations over psycopg 3), applied by `fusebox migrate`."""
from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from yoyo import get_backend, read_migrations

from fusebox.settings import Settings

SQL_DIR = Path(__file__).with_name("sql")
logger = logging.getLogger("fusebox.storage.migrations")


def yoyo_url(database_url: str) -> str:
    """yoyo names the psycopg 3 driver in the URL scheme."""
    for scheme in ("postgresql://", "postgres://"):
        if database_url.startswith(scheme):
            return "postgresql+psycopg://" + database_url[len(scheme):]
    return database_url


def apply_migrations(database_url: str) -> list[str]:
    """Apply every pending migration; return the ids applied."""
    backend = get_backend(yoyo_url(database_url))
    migrations = read_migrations(str(SQL_DIR))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    applied = [m.id for m in pending]
    if applied:
        logger.info("applied migrations %r", applied)
    return applied


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="fusebox migrate")
    parser.add_argument("--database-url", default=None, help="defaults to FUSEBOX_DATABASE_URL")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    url = args.database_url or Settings.from_env().database_url
    applied = apply_migrations(url)
    print(f"migrations applied: {len(applied)} ({', '.join(applied) or 'up to date'})")
    return 0
