"""The JSON Schemas of `schemas/`, loaded by file name or by title (`"CallOutcome"`)."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
SUFFIX = ".schema.json"


@cache
def all_schemas() -> dict[str, dict[str, Any]]:
    """Every schema document, by file name."""
    return {path.name: json.loads(path.read_text(encoding="utf-8"))
            for path in sorted(SCHEMA_DIR.glob("*" + SUFFIX))}


@cache
def file_by_title() -> dict[str, str]:
    return {doc["title"]: name for name, doc in all_schemas().items()}


def load_schema(name: str) -> dict[str, Any]:
    """A schema by file name (`call-outcome.schema.json`) or title (`CallOutcome`)."""
    schemas = all_schemas()
    if name in schemas:
        return schemas[name]
    return schemas[file_by_title()[name]]


@cache
def _registry() -> Any:
    from referencing import Registry, Resource

    return Registry().with_resources(
        (doc["$id"], Resource.from_contents(doc)) for doc in all_schemas().values())


def schema_errors(name: str, instance: Any) -> list[str]:
    """Messages of every way `instance` fails the schema `name` (empty when valid). Needs `jsonschema`."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(load_schema(name), registry=_registry(),
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, error.absolute_path)) or '$'}: {error.message}"
            for error in validator.iter_errors(instance)]
