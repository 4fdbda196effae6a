"""Config updates, resets and shadow configs: validate, rate limit, audit, write the command, answer with
its result. What-ifs: validated, rate-limited and audited the same way; they write no command."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from fusebox.api import errors
from fusebox.api.audit import AuditEntry, AuditLog, storable_service
from fusebox.api.dependency_guard import DependencyUnavailable
from fusebox.api.commands import CommandBus, CommandOutcome
from fusebox.api.errors import ApiError
from fusebox.api.metrics import ApiMetrics
from fusebox.api.ratelimit import RateLimiter
from fusebox.api.request_body import RequestBody, parse_body
from fusebox.api.state_view import StateView
from fusebox.api.validation import (validate_config_update, validate_reset, validate_service,
                                    validate_shadow_config, validate_whatif)
from fusebox.api.whatif import WhatIfRunner
from fusebox.auth import Principal
from fusebox.core import codec
from fusebox.core.commands import BREAKER_RESET, CONFIG_UPDATE, SHADOW_CLEAR, SHADOW_PROMOTE, SHADOW_SET
from fusebox.core.isotime import ms_of_datetime
from fusebox.core.validation import ValidationError
from fusebox.core.whatif import candidate_config
from fusebox.whatif_log import RANGE_BEYOND_RETENTION, WHATIF_TOO_LONG, RangeBeyondRetention, WhatIfTooLong

WHATIF = "whatif"  # the audit's action of a what-if (it is no command)

logger = logging.getLogger("fusebox.api.admin_actions")

# The aggregator refuses a command with VALIDATION_FAILED (or UNKNOWN_SERVICE); anything else reads as a refusal too.
_RESULT_ERROR_STATUS = {errors.UNKNOWN_SERVICE: 404, errors.VALIDATION_FAILED: 400, errors.NO_SHADOW_CONFIG: 409}


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict


@dataclass
class AdminActions:
    view: StateView
    bus: CommandBus
    audit: AuditLog
    limiter: RateLimiter
    metrics: ApiMetrics
    whatifs: WhatIfRunner | None = None

    async def update_config(self, principal: Principal, service: str, body: RequestBody,
                            request_id: str) -> Answer:
        entry = AuditEntry(principal.sub, CONFIG_UPDATE, storable_service(service), request_id,
                           request=body.excerpt())
        try:
            service = validate_service(service)
            request = parse_body(body)
            entry.request = request  # storable JSON from here on: the audit keeps it whole, valid or not
            config = validate_config_update(request)
        except ApiError as error:
            await self._refuse(entry, error, self.metrics.config_changes)
        limited = await self._rate_limited(principal.sub)
        if limited is not None:
            await self._refused(entry, limited, self.metrics.config_changes)
            raise limited
        outcome = await self._submit(entry, CONFIG_UPDATE, config, self.metrics.config_changes)
        if outcome.result is None:
            return _accepted(service, outcome.command_id)
        return Answer(200, {"success": True, "service": service, "config": outcome.result["result"]["config"],
                            "appliedAt": outcome.result["appliedAt"]})

    async def reset(self, principal: Principal, service: str, body: RequestBody, request_id: str) -> Answer:
        entry = AuditEntry(principal.sub, BREAKER_RESET, storable_service(service), request_id,
                           request=body.excerpt())
        try:
            service = validate_service(service)
            parsed = parse_body(body)
            entry.request = parsed  # storable JSON from here on: the audit keeps it whole, valid or not
            request = validate_reset(parsed)
            entry.reason, entry.metadata = request["reason"], request.get("metadata")
            if service not in self.view:
                raise ApiError(404, errors.UNKNOWN_SERVICE, f"no service named {service!r} is known")
        except ApiError as error:
            await self._refuse(entry, error, self.metrics.resets)
        # A valid reset takes no token and never waits: an incident is no time to.
        outcome = await self._submit(entry, BREAKER_RESET, {**request, "requestId": request_id}, self.metrics.resets)
        if outcome.result is None:
            return _accepted(service, outcome.command_id)
        return Answer(200, {"success": True, "service": service, "resetTime": outcome.result["appliedAt"],
                            "previousState": outcome.result["result"]["previousState"]})

    async def whatif(self, principal: Principal, service: str, body: RequestBody, request_id: str,
                     now: datetime) -> Answer:
        """Re-fold the service's retained log under a candidate config; changes nothing live."""
        entry = AuditEntry(principal.sub, WHATIF, storable_service(service), request_id, request=body.excerpt())
        counter = self.metrics.whatifs
        try:
            service = validate_service(service)
            request = parse_body(body)
            entry.request = request
            since, until, partial = validate_whatif(request, now)
            state = self.view.get(service)
            if state is None:
                raise ApiError(404, errors.UNKNOWN_SERVICE, f"no service named {service!r} is known")
            _candidate_over(state["config"], partial)  # the config in force now; the re-fold judges it at `since`
        except ApiError as error:
            await self._refuse(entry, error, counter)
        limited = await self._rate_limited(principal.sub)
        if limited is not None:
            await self._refused(entry, limited, counter)
            raise limited
        audit_id = await self.audit.open(entry)
        try:
            answer = await self.whatifs.run(service, ms_of_datetime(since), ms_of_datetime(until), partial)
        except (RangeBeyondRetention, WhatIfTooLong, ValidationError) as exc:
            error = _whatif_error(exc)
            counter.labels(outcome="refused").inc()
            await self.audit.close(audit_id, "refused", error_code=error.code,
                                   detail={"message": error.message, "details": error.details})
            raise error from exc
        except BaseException as exc:
            await self.audit.close(audit_id, "failed", error_code=errors.INTERNAL, detail={"message": repr(exc)})
            raise
        counter.labels(outcome="applied").inc()
        await self.audit.close(audit_id, "applied", detail={
            "eventsFolded": answer["eventsFolded"],
            "incidents": {"actual": answer["actual"]["incidents"], "candidate": answer["candidate"]["incidents"]}})
        return Answer(200, answer)

    async def set_shadow_config(self, principal: Principal, service: str, body: RequestBody,
                                request_id: str) -> Answer:
        """A candidate config folded beside the live one (docs/shadow-config.md); partial: merged when applied."""
        entry = AuditEntry(principal.sub, SHADOW_SET, storable_service(service), request_id, request=body.excerpt())
        try:
            service = validate_service(service)
            request = parse_body(body)
            entry.request = request
            config = validate_shadow_config(request)
            self._require_known(service)
        except ApiError as error:
            await self._refuse(entry, error, self.metrics.config_changes)
        return _shadow_answer(service, await self._limited_submit(entry, SHADOW_SET, config), "shadow")

    async def clear_shadow_config(self, principal: Principal, service: str, body: RequestBody,
                                  request_id: str) -> Answer:
        return _shadow_answer(service, await self._bodiless(principal, service, body, request_id, SHADOW_CLEAR),
                              "cleared")

    async def promote_shadow_config(self, principal: Principal, service: str, body: RequestBody,
                                    request_id: str) -> Answer:
        """The shadow config becomes the live config: one command, so one audit row and one fold step."""
        return _shadow_answer(service, await self._bodiless(principal, service, body, request_id, SHADOW_PROMOTE),
                              "config")

    async def _bodiless(self, principal: Principal, service: str, body: RequestBody, request_id: str,
                        command_type: str) -> CommandOutcome:
        """A shadow command that takes no body: none, or `{}`."""
        entry = AuditEntry(principal.sub, command_type, storable_service(service), request_id, request=body.excerpt())
        try:
            service = validate_service(service)
            if body.head or body.too_large:
                request = parse_body(body)
                entry.request = request
                if request != {}:
                    raise ApiError(400, errors.VALIDATION_FAILED, "the request is not valid",
                                   [{"field": "body", "issue": "must be empty or {}"}])
            self._require_known(service)
        except ApiError as error:
            await self._refuse(entry, error, self.metrics.config_changes)
        return await self._limited_submit(entry, command_type, {})

    def _require_known(self, service: str) -> None:
        if service not in self.view:
            raise ApiError(404, errors.UNKNOWN_SERVICE, f"no service named {service!r} is known")

    async def _limited_submit(self, entry: AuditEntry, command_type: str, payload: dict) -> CommandOutcome:
        """Take a token like a config change, then submit."""
        limited = await self._rate_limited(entry.admin_id)
        if limited is not None:
            await self._refused(entry, limited, self.metrics.config_changes)
            raise limited
        return await self._submit(entry, command_type, payload, self.metrics.config_changes)

    async def _refuse(self, entry: AuditEntry, error: ApiError, counter) -> NoReturn:
        """A refused attempt takes a token too, so probing with bad requests slows down; audit it and raise.

        With the admin's bucket empty the answer is RATE_LIMITED instead of `error`."""
        error = await self._rate_limited(entry.admin_id) or error
        await self._refused(entry, error, counter)
        raise error

    async def _rate_limited(self, admin_id: str) -> ApiError | None:
        """Take one token of the admin's bucket: None, or the RATE_LIMITED error when it is empty."""
        retry_after = await self.limiter.take(admin_id)
        if retry_after <= 0:
            return None
        return ApiError(429, errors.RATE_LIMITED, "too many config changes or refused attempts; slow down",
                        headers={"Retry-After": str(max(1, round(retry_after + 0.499)))})

    async def _refused(self, entry: AuditEntry, error: ApiError, counter) -> None:
        counter.labels(outcome="refused").inc()
        entry.outcome, entry.error_code = "refused", error.code
        entry.detail = {"message": error.message, "details": error.details} if error.details else {"message": error.message}
        await self.audit.record_rejection(entry)

    async def _submit(self, entry: AuditEntry, command_type: str, payload: dict, counter) -> CommandOutcome:
        audit_id = await self.audit.open(entry)
        try:
            outcome = await self.bus.submit(entry.service, command_type, payload, entry.admin_id)
        except DependencyUnavailable as exc:
            counter.labels(outcome="failed").inc()
            await self.audit.close(audit_id, "failed", error_code=errors.DEPENDENCY_UNAVAILABLE,
                                   detail={"message": exc.message})
            raise
        except BaseException as exc:
            await self.audit.close(audit_id, "failed", error_code=errors.INTERNAL, detail={"message": repr(exc)})
            raise
        result = outcome.result
        if result is None:
            counter.labels(outcome="accepted").inc()
            await self.audit.close(audit_id, "accepted", command_id=outcome.command_id)
            return outcome
        if result.get("ok") is True:
            counter.labels(outcome="applied").inc()
            await self.audit.close(audit_id, "applied", command_id=outcome.command_id,
                                   detail={"appliedAt": result.get("appliedAt"), "result": result.get("result")})
            return outcome
        error = result.get("error") if isinstance(result.get("error"), dict) else {}
        code = str(error.get("code") or errors.VALIDATION_FAILED)
        message = str(error.get("message") or "the aggregator refused the command")
        counter.labels(outcome="rejected").inc()
        await self.audit.close(audit_id, "rejected", command_id=outcome.command_id, error_code=code,
                               detail={"message": message})
        if code not in _RESULT_ERROR_STATUS:
            code, message = errors.VALIDATION_FAILED, f"{code}: {message}"
        raise ApiError(_RESULT_ERROR_STATUS[code], code, f"the aggregator refused the command: {message}")


def _shadow_answer(service: str, outcome: CommandOutcome, key: str) -> Answer:
    """A shadow command's answer: 200 with `key` of its result once applied, else 202."""
    if outcome.result is None:
        return _accepted(service, outcome.command_id)
    return Answer(200, {"success": True, "service": service, key: outcome.result["result"][key],
                        "appliedAt": outcome.result["appliedAt"]})


def _accepted(service: str, command_id: str) -> Answer:
    return Answer(202, {"success": True, "accepted": True, "service": service, "commandId": command_id,
                        "message": "the command is durable and will apply; its result did not arrive in time"})


def _candidate_over(config: dict, partial) -> None:
    try:
        candidate_config(config, partial)
    except ValidationError as exc:
        raise ApiError(400, exc.code, exc.message, exc.details) from exc


def _whatif_error(exc: Exception) -> ApiError:
    if isinstance(exc, RangeBeyondRetention):
        return ApiError(422, RANGE_BEYOND_RETENTION, str(exc), exc.details())
    if isinstance(exc, WhatIfTooLong):
        return ApiError(422, WHATIF_TOO_LONG, str(exc))
    return ApiError(400, exc.code, exc.message, exc.details)
