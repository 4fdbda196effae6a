"""Epoch milliseconds <-> the wire's ISO 8601 UTC strings (`2026-11-26T22:00:00.123Z`)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

MAX_EPOCH_MS = 253402300799999
"""9999-12-31T23:59:59.999Z: the last instant an ISO 8601 year of four digits can name."""


@lru_cache(maxsize=4096)
def _day_prefix(days: int) -> str:
    day = _EPOCH + timedelta(days=days)
    return f"{day.year:04d}-{day.month:02d}-{day.day:02d}T"


@lru_cache(maxsize=65536)
def iso_ms(ms: int) -> str:
    """Format epoch milliseconds as ISO 8601 UTC with milliseconds and `Z`."""
    days, rest = divmod(ms, 86_400_000)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{_day_prefix(days)}{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


def iso_or_none(ms: int | None) -> str | None:
    return None if ms is None else iso_ms(ms)


def ms_of_datetime(value: datetime) -> int:
    """Epoch milliseconds of a datetime (naive means UTC), sub-millisecond digits dropped."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    delta = value - _EPOCH
    return (delta.days * 86_400_000) + (delta.seconds * 1000) + (delta.microseconds // 1000)


def iso_datetime(value: datetime) -> str:
    """A datetime (naive means UTC) as the wire's ISO 8601 UTC string, like `iso_ms`."""
    return iso_ms(ms_of_datetime(value))


def parse_iso_ms(text: str) -> int:
    """Parse an ISO 8601 timestamp with an offset (or `Z`) into epoch milliseconds."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    if dt.tzinfo is None:
        raise ValueError(f"timestamp without a UTC offset: {text!r}")
    return ms_of_datetime(dt)


def parse_iso_datetime(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (a `Z`, `z` or an offset; naive means UTC) into an aware UTC datetime."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def datetime_of_ms(ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def naive_utc(value: datetime) -> datetime:
    """An aware datetime as the naive UTC a PostgreSQL TIMESTAMP column holds."""
    return value.astimezone(timezone.utc).replace(tzinfo=None)
