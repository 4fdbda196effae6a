"""Admin request bodies: read up to the size limit, parsed into values PostgreSQL can store, excerpted for the audit.

orjson reads JSON nested up to 1024 levels but writes only 254, and PostgreSQL stores no NUL
character in text or jsonb: a body is refused before either can surprise the audit or the command.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from fusebox.api import errors
from fusebox.api.errors import ApiError
from fusebox.core import codec

MAX_DEPTH = 32  # far beyond any request body of the contract (ResetRequest nests 2 levels)
EXCERPT_BYTES = 2048
_FIELD_CHARS = 200
_MAX_NUL_DETAILS = 20
_READ_CHUNK = 16 * 1024


@dataclass(frozen=True, slots=True)
class RequestBody:
    head: bytes  # the whole body, or its first bytes when it is over the limit
    size: int  # bytes received; once over the limit, reading stops
    too_large: bool
    limit: int

    def excerpt(self) -> dict:
        """What the audit keeps of a refused body: its first EXCERPT_BYTES as text PostgreSQL accepts."""
        head = self.head[:EXCERPT_BYTES]
        text = head.decode("utf-8", "replace").replace("\x00", "\ufffd")
        while len(text.encode("utf-8")) > EXCERPT_BYTES:  # a replaced byte grows into three
            text = text[:-1]
        return {"excerpt": text, "bytes": self.size, "truncated": self.too_large or len(self.head) > EXCERPT_BYTES}


async def read_body(request: web.Request, limit: int) -> RequestBody:
    """The body, reading no further than one chunk past `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(_READ_CHUNK)
        if not chunk:
            return RequestBody(b"".join(chunks), size, False, limit)
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            return RequestBody(b"".join(chunks)[:EXCERPT_BYTES], size, True, limit)


def parse_body(body: RequestBody) -> Any:
    """The JSON value of an admin request body; ApiError 413, MALFORMED_JSON or VALIDATION_FAILED otherwise."""
    if body.too_large:
        raise ApiError(413, errors.PAYLOAD_TOO_LARGE, f"the request body is larger than {body.limit} bytes")
    if not body.head:
        raise ApiError(400, errors.MALFORMED_JSON, "the request body must be a JSON document")
    try:
        value = codec.loads(body.head)
    except codec.DecodeError as exc:
        raise ApiError(400, errors.MALFORMED_JSON, f"the request body is not valid JSON: {exc}") from exc
    _check_storable(value)
    return value


def _field(path: str) -> str:
    shown = path.replace("\x00", "\\u0000")
    return shown if len(shown) <= _FIELD_CHARS else shown[:_FIELD_CHARS] + "…"


def _check_storable(value: Any) -> None:
    """Refuse nesting deeper than MAX_DEPTH (MALFORMED_JSON) and NUL in any key or string (VALIDATION_FAILED)."""
    nul_paths: list[str] = []
    pending: list[tuple[Any, str, int]] = [(value, "", 1)]
    while pending:
        item, path, depth = pending.pop()
        if isinstance(item, dict):
            if depth > MAX_DEPTH:
                raise _too_deep()
            for key, child in item.items():
                child_path = f"{path}.{key}" if path else key
                if "\x00" in key:
                    nul_paths.append(child_path)
                pending.append((child, child_path, depth + 1))
        elif isinstance(item, list):
            if depth > MAX_DEPTH:
                raise _too_deep()
            pending.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))
        elif isinstance(item, str) and "\x00" in item:
            nul_paths.append(path or "$")
    if nul_paths:
        details = [{"field": _field(path), "issue": "must not contain the NUL character (U+0000)"}
                   for path in sorted(set(nul_paths))[:_MAX_NUL_DETAILS]]
        raise ApiError(400, errors.VALIDATION_FAILED, "the request is not valid", details)


def _too_deep() -> ApiError:
    return ApiError(400, errors.MALFORMED_JSON, f"the request body nests deeper than {MAX_DEPTH} levels")
