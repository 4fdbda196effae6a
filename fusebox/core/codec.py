"""The one place that knows the wire encoding (orjson). Domain code never imports orjson."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson


dumps: Callable[[Any], bytes] = orjson.dumps
"""Compact JSON bytes. Bound directly to orjson: these run once per event on the hot paths."""

loads: Callable[[bytes | bytearray | memoryview | str], Any] = orjson.loads


def dumps_sorted(value: Any) -> bytes:
    """Canonical bytes: keys sorted, for byte-for-byte comparisons of states."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


DecodeError = orjson.JSONDecodeError
