"""Epoch milliseconds <-> the wire's ISO 8601 UTC strings (`2026-11-26T22:00:00.123Z`)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

MAX_EPOCH_MS = 253402300799999
"""9999-12-31T23:59:59.999Z: the last instant an ISO 8601 year of four digits can name."""


def iso_ms(ms: int) -> str:
    """Format epoch milliseconds as ISO 8601 UTC with milliseconds and `Z`."""
    dt = _EPOCH + timedelta(milliseconds=ms)
    return (f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:"
            f"{dt.second:02d}.{dt.microsecond // 1000:03d}Z")


def iso_or_none(ms: int | None) -> str | None:
    return None if ms is None else iso_ms(ms)


def parse_iso_ms(text: str) -> int:
    """Parse an ISO 8601 timestamp with an offset (or `Z`) into epoch milliseconds."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    if dt.tzinfo is None:
        raise ValueError(f"timestamp without a UTC offset: {text!r}")
    delta = dt - _EPOCH
    return (delta.days * 86_400_000) + (delta.seconds * 1000) + (delta.microseconds // 1000)
