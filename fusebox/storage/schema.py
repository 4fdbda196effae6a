"""Each deployment's own PostgreSQL schema, so deployments sharing one database never touch each other's rows.

The schema is `FUSEBOX_DB_SCHEMA` when set, else derived from `FUSEBOX_TOPIC_PREFIX`
(`fusebox.` → `fusebox`, `staging.fusebox.` → `staging_fusebox`). Every connection Fusebox opens
sets `search_path` to that schema alone, so an unqualified table name can only mean its own table.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

# Lower-case letters, digits and underscores, at most 63 bytes (PostgreSQL's NAMEDATALEN - 1):
# the same name unquoted and quoted, so yoyo's unquoted `SET search_path` agrees with ours.
_SAFE_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_RESERVED = ("pg_", "information_schema")


class InvalidSchema(ValueError):
    """The schema name (given or derived) is not a safe PostgreSQL identifier."""


def validate_schema(name: str) -> str:
    if not _SAFE_SCHEMA.match(name) or name.startswith(_RESERVED):
        raise InvalidSchema(f"{name!r} is not a usable schema name: lower-case letters, digits and underscores, "
                            "starting with a letter or underscore, at most 63 characters, not pg_*")
    return name


def schema_for_prefix(topic_prefix: str) -> str:
    """The schema of a topic prefix: dots and dashes become underscores, the trailing dot goes."""
    name = topic_prefix.rstrip(".").replace(".", "_").replace("-", "_")
    if not name:
        raise InvalidSchema("an empty topic prefix names no schema; set FUSEBOX_DB_SCHEMA")
    try:
        return validate_schema(name)
    except InvalidSchema as exc:
        raise InvalidSchema(f"the topic prefix {topic_prefix!r} gives no usable schema ({exc}); "
                            "set FUSEBOX_DB_SCHEMA") from exc


def resolve_schema(explicit: str | None, topic_prefix: str) -> str:
    return validate_schema(explicit) if explicit else schema_for_prefix(topic_prefix)


def scoped_conninfo(database_url: str, schema: str) -> str:
    """`database_url` with `search_path` set to `schema` at connection start (replacing any `options`)."""
    return make_conninfo(database_url, options=f"-c search_path={validate_schema(schema)}")


def yoyo_scoped_url(yoyo_url: str, schema: str) -> str:
    """A yoyo URL whose connections use `schema`: yoyo sets search_path from its `schema` parameter."""
    parts = urlsplit(yoyo_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("schema", "options")]
    query.append(("schema", validate_schema(schema)))
    return urlunsplit(parts._replace(query=urlencode(query)))


def create_schema(database_url: str, schema: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(validate_schema(schema))))
