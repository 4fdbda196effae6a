"""Validation of everything that enters Fusebox, with stable codes and field-level details.

Hand-written checks (`fusebox.core.rules`), held to the JSON Schemas in `schemas/` by the unit
tests; they are several times faster than compiled schema validators on the hot path.
"""
from __future__ import annotations

from typing import Any

from fusebox.core import codec, rules

MALFORMED_JSON = "MALFORMED_JSON"
VALIDATION_FAILED = "VALIDATION_FAILED"


class ValidationError(ValueError):
    """A rejected body: `code` is MALFORMED_JSON or VALIDATION_FAILED; `details` name the fields."""

    def __init__(self, code: str, message: str, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or []

    def to_dict(self) -> dict[str, Any]:
        """The `error` object of the error envelope, without the request id."""
        return {"code": self.code, "message": self.message, "details": self.details}

    def __repr__(self) -> str:
        return f"ValidationError({self.code!r}, {self.message!r}, {self.details!r})"


def _fail(what: str, issues: rules.Issues) -> ValidationError:
    summary = "; ".join(f"{i['field']}: {i['issue']}" for i in issues[:5])
    return ValidationError(VALIDATION_FAILED, f"invalid {what}: {summary}", issues)


_loads = codec.loads
_DecodeError = codec.DecodeError
_outcome_ok = rules.outcome_ok


def decode_outcome(raw: bytes | bytearray | memoryview | str, known_services: set[str] | None = None) -> dict:
    """Decode and validate one call-outcomes record value (`known_services`: see rules.outcome_ok)."""
    try:
        body = _loads(raw)
    except _DecodeError as exc:
        raise ValidationError(MALFORMED_JSON, f"not JSON: {exc}", [{"field": "$", "issue": str(exc)}]) from None
    if _outcome_ok(body, known_services):
        return body
    raise _fail("CallOutcome", rules.outcome_issues(body))


def validate_command(body: Any) -> dict:
    """Return `body` when it is a valid BreakerCommand (its payload checked by type)."""
    issues = rules.command_issues(body)
    if issues:
        raise _fail("BreakerCommand", issues)
    return body


def decode_command(raw: bytes | bytearray | memoryview | str) -> dict:
    """Decode and validate one breaker-commands record value."""
    try:
        body = codec.loads(raw)
    except codec.DecodeError as exc:
        raise ValidationError(MALFORMED_JSON, f"not JSON: {exc}", [{"field": "$", "issue": str(exc)}]) from None
    return validate_command(body)


def validate_config_update(body: Any) -> dict:
    """ConfigUpdateRequest (PUT …/{service}/config): rules of docs/topics-and-events.md, unknown fields rejected."""
    issues = rules.config_issues(body)
    if issues:
        raise _fail("ConfigUpdateRequest", issues)
    return body


def validate_shadow_config(body: Any) -> dict:
    """A shadow config (PUT …/{service}/shadow-config): a ConfigUpdateRequest whose fields are all optional."""
    issues = rules.config_issues(body, partial=True)
    if issues:
        raise _fail("ShadowConfigRequest", issues)
    return body


def validate_reset_request(body: Any) -> dict:
    """ResetRequest (POST …/{service}/reset): rules of docs/topics-and-events.md, unknown fields rejected."""
    issues = rules.reset_issues(body)
    if issues:
        raise _fail("ResetRequest", issues)
    return body


def validate_service_name(name: Any) -> str:
    """A service name as it appears in a URL path or a Kafka key."""
    issues: rules.Issues = []
    rules.service_issues(issues, name)
    if issues:
        raise _fail("service name", issues)
    return name
