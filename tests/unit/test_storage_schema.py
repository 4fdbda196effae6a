"""Each deployment's PostgreSQL schema: derived from the topic prefix or given, always a safe identifier."""
from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict

from fusebox.settings import Settings
from fusebox.storage.schema import (InvalidSchema, resolve_schema, schema_for_prefix, scoped_conninfo,
                                    yoyo_scoped_url)


@pytest.mark.parametrize("prefix,schema", [("fusebox.", "fusebox"), ("staging.fusebox.", "staging_fusebox"),
                                           ("team-a.", "team_a"), ("t0123456789.", "t0123456789")])
def test_a_prefix_names_its_schema(prefix, schema):
    assert schema_for_prefix(prefix) == schema


@pytest.mark.parametrize("prefix", ["", ".", "Prod.", "1fusebox.", "pg_fusebox.", "a b.", 'x";drop.', "é.",
                                    "x" * 64 + "."])
def test_a_prefix_without_a_safe_schema_name_asks_for_fusebox_db_schema(prefix):
    with pytest.raises(InvalidSchema, match="FUSEBOX_DB_SCHEMA"):
        schema_for_prefix(prefix)


def test_an_explicit_schema_wins_and_is_validated_too():
    assert resolve_schema("team_b", "fusebox.") == "team_b"
    assert resolve_schema(None, "fusebox.") == "fusebox"
    with pytest.raises(InvalidSchema):
        resolve_schema('public"; drop table x; --', "fusebox.")


def test_connections_set_the_search_path_to_the_schema_alone():
    info = conninfo_to_dict(scoped_conninfo("postgresql://u@127.0.0.1:5432/db?options=-c%20search_path%3Dother", "a_b"))
    assert info["options"] == "-c search_path=a_b" and info["dbname"] == "db"
    url = yoyo_scoped_url("postgresql+psycopg://u@127.0.0.1:5432/db?options=-c%20search_path%3Dother", "a_b")
    assert url == "postgresql+psycopg://u@127.0.0.1:5432/db?schema=a_b"


def test_settings_stop_naming_the_variable_when_no_schema_fits(monkeypatch):
    monkeypatch.delenv("FUSEBOX_DB_SCHEMA", raising=False)
    monkeypatch.setenv("FUSEBOX_TOPIC_PREFIX", "Prod.")
    with pytest.raises(SystemExit, match="FUSEBOX_DB_SCHEMA"):
        Settings.from_env()
    monkeypatch.setenv("FUSEBOX_DB_SCHEMA", "prod")
    assert Settings.from_env().db_schema == "prod"
