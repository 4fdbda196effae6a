"""Versioned PostgreSQL migrations (yoyo-migrations over psycopg 3), applied by `fusebox migrate`."""
from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from yoyo import get_backend, read_migrations

from fusebox.settings import Settings
from fusebox.storage.schema import create_schema, validate_schema, yoyo_scoped_url

SQL_DIR = Path(__file__).with_name("sql")
logger = logging.getLogger("fusebox.storage.migrations")


def yoyo_url(database_url: str) -> str:
    """yoyo names the psycopg 3 driver in the URL scheme."""
    for scheme in ("postgresql://", "postgres://"):
        if database_url.startswith(scheme):
            return "postgresql+psycopg://" + database_url[len(scheme):]
    return database_url


def apply_migrations(database_url: str, schema: str) -> list[str]:
    """Apply every pending migration to `schema` (created if missing); return the ids applied.

    yoyo keeps its own bookkeeping tables in the current schema, so each schema migrates on its own."""
    create_schema(database_url, validate_schema(schema))
    backend = get_backend(yoyo_scoped_url(yoyo_url(database_url), schema))
    migrations = read_migrations(str(SQL_DIR))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    applied = [m.id for m in pending]
    if applied:
        logger.info("applied migrations %r to schema %s", applied, schema)
    return applied


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="fusebox migrate")
    parser.add_argument("--database-url", default=None, help="defaults to FUSEBOX_DATABASE_URL")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    settings = Settings.from_env()
    applied = apply_migrations(args.database_url or settings.database_url, settings.db_schema)
    print(f"migrations applied to schema {settings.db_schema}: {len(applied)} ({', '.join(applied) or 'up to date'})")
    return 0
