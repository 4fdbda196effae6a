"""The one place that knows the wire encoding (orjson). Domain code never imports orjson."""
from __future__ import annotations

from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    return orjson.loads(data)


def dumps_sorted(value: Any) -> bytes:
    """Canonical bytes: keys sorted, for byte-for-byte comparisons of states."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


DecodeError = orjson.JSONDecodeError
