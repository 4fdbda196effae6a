"""Request validation with field-level details (docs/api.md): bodies by the core's rules, plus query parameters."""
from __future__ import annotations

from datetime import datetime, timezone

from fusebox.api.errors import VALIDATION_FAILED, ApiError
from fusebox.core import validation as core_validation

TIMEFRAMES = ("1h", "24h", "7d", "30d")


def _fail(details: list[dict[str, str]]) -> None:
    if details:
        raise ApiError(400, VALIDATION_FAILED, "the request is not valid", details)


def _digits(raw: str) -> bool:
    return raw.isascii() and raw.isdigit() and len(raw) <= 15


def _checked(validate, value):
    try:
        return validate(value)
    except core_validation.ValidationError as exc:
        raise ApiError(400, exc.code, exc.message, exc.details) from exc


def validate_service(service: str) -> str:
    return _checked(core_validation.validate_service_name, service)


def validate_config_update(body) -> dict:
    """ConfigUpdateRequest, by the shared core's rules."""
    return _checked(core_validation.validate_config_update, body)


def validate_shadow_config(body) -> dict:
    """A partial ConfigUpdateRequest, by the shared core's rules."""
    return _checked(core_validation.validate_shadow_config, body)


def validate_reset(body) -> dict:
    """ResetRequest, by the shared core's rules; `force` defaults to false."""
    request = _checked(core_validation.validate_reset_request, body)
    return {**request, "force": request.get("force", False)}


def parse_time(field: str, raw: str | None) -> datetime | None:
    """An ISO 8601 timestamp (a `Z` or offset; naive means UTC) or epoch milliseconds, as aware UTC."""
    if raw is None:
        return None
    try:
        if _digits(raw):
            return datetime.fromtimestamp(int(raw) / 1000, tz=timezone.utc)
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        _fail([{"field": field, "issue": "must be an ISO 8601 timestamp or epoch milliseconds"}])
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def parse_bool(field: str, raw: str | None) -> bool | None:
    """`true` or `false`; None when absent."""
    if raw is None:
        return None
    if raw not in ("true", "false"):
        _fail([{"field": field, "issue": "must be true or false"}])
    return raw == "true"


def parse_limit(raw: str | None, default: int, maximum: int) -> int:
    if raw is None:
        return default
    if not _digits(raw) or not 1 <= int(raw) <= maximum:
        _fail([{"field": "limit", "issue": f"must be an integer between 1 and {maximum}"}])
    return int(raw)


def validate_timeframe(raw: str | None) -> str:
    if raw is None:
        return "1h"
    if raw not in TIMEFRAMES:
        _fail([{"field": "timeframe", "issue": "must be one of " + ", ".join(TIMEFRAMES)}])
    return raw
