"""Request validation with field-level details (docs/api.md): bodies by the core's rules, plus query parameters."""
from __future__ import annotations

from datetime import datetime

from fusebox.api.errors import VALIDATION_FAILED, ApiError
from fusebox.core import validation as core_validation
from fusebox.core.isotime import datetime_of_ms, parse_iso_datetime

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
        return datetime_of_ms(int(raw)) if _digits(raw) else parse_iso_datetime(raw)
    except (ValueError, OverflowError, OSError):
        _fail([{"field": field, "issue": "must be an ISO 8601 timestamp or epoch milliseconds"}])


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


_WHATIF_FIELDS = ("config", "since", "until")


def validate_whatif(body, now: datetime) -> tuple[datetime, datetime, dict]:
    """WhatIfRequest (docs/whatif.md): `since`, optional `until` (default now) and the candidate's
    config fields; the config itself is judged over the config in force (fusebox.core.whatif)."""
    if not isinstance(body, dict):
        _fail([{"field": "$", "issue": "must be an object"}])
    details = [{"field": name, "issue": "is not a known field"} for name in sorted(body) if name not in _WHATIF_FIELDS]
    if not isinstance(body.get("config"), dict):
        details.append({"field": "config", "issue": "is required and must be an object"})
    for name in ("since", "until"):
        if name in body and not isinstance(body[name], str):
            details.append({"field": name, "issue": "must be an ISO 8601 timestamp"})
    if "since" not in body:
        details.append({"field": "since", "issue": "is required"})
    _fail(details)
    since = parse_time("since", body["since"])
    until = parse_time("until", body.get("until")) or now
    if since > until:
        _fail([{"field": "since", "issue": "must not be after until"}])
    return since, until, body["config"]
