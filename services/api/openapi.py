"""The OpenAPI 3.1 document (schemas/openapi.yaml), bundled with the JSON Schema files it references.

openapi.yaml refers to the contract's files (`service-state.schema.json`, …). Bundling copies each referenced
file into `components/schemas/<its title>` without `$id`/`$schema` and rewrites every `$ref` to point inside the
one document, so it is served at /api/admin/openapi.json and read by tools as a single self-contained file.
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from fusebox.core import codec

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"
OPENAPI_PATH = SCHEMAS_DIR / "openapi.yaml"
COMPONENTS = "#/components/schemas/"


def load_openapi(path: Path = OPENAPI_PATH) -> dict:
    """The bundled document as a dict."""
    with path.open("rb") as f:
        document = yaml.safe_load(f)
    bundled: dict[str, dict] = {}
    document = _rewrite(document, path.parent, None, bundled)
    document.setdefault("components", {}).setdefault("schemas", {})
    for title, schema in bundled.items():
        document["components"]["schemas"].setdefault(title, schema)
    return document


def openapi_json(path: Path = OPENAPI_PATH) -> bytes:
    return codec.dumps(load_openapi(path))


def _rewrite(node, folder: Path, own_title: str | None, bundled: dict[str, dict]):
    if isinstance(node, list):
        return [_rewrite(item, folder, own_title, bundled) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = _target(value, folder, own_title, bundled)
        else:
            out[key] = _rewrite(value, folder, own_title, bundled)
    return out


def _target(ref: str, folder: Path, own_title: str | None, bundled: dict[str, dict]) -> str:
    file_part, _, pointer = ref.partition("#")
    if not file_part:
        # A pointer local to a bundled file now lives under that file's component.
        return f"{COMPONENTS}{own_title}{pointer}" if own_title is not None else ref
    title = _bundle(folder / file_part, bundled)
    return f"{COMPONENTS}{title}{pointer}"


def _bundle(path: Path, bundled: dict[str, dict]) -> str:
    schema = json.loads(path.read_text(encoding="utf-8"))
    title = schema.get("title") or path.name.split(".")[0]
    if title not in bundled:
        bundled[title] = {}  # claimed first, so that cycles between files terminate
        body = {k: v for k, v in schema.items() if k not in ("$id", "$schema", "examples")}
        bundled[title] = _rewrite(body, path.parent, title, bundled)
    return title
