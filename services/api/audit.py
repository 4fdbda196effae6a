"""The audit log: one `admin_audit_log` row per config change or reset attempt, whatever its outcome, and its reader."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg

from fusebox.api.dependency_guard import DependencyUnavailable
from fusebox.core.commands import BREAKER_RESET, CONFIG_UPDATE
from fusebox.core.isotime import iso_datetime
from fusebox.api.storage import Database, jsonb

logger = logging.getLogger("fusebox.api.audit")

PENDING = "pending"
SERVICE_NAME_CHARS = 255  # the column's width
_DETAIL_CHARS = 300


def storable_text(text: str, limit: int) -> str:
    """`text` as PostgreSQL takes it: no NUL, no lone surrogate, at most `limit` characters."""
    clean = text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    return clean[:limit]


def storable_service(name: str) -> str:
    """The service name of an audit row, also for a name the API refused."""
    return storable_text(name, SERVICE_NAME_CHARS)


def _storable_detail(detail: dict | None) -> dict | None:
    if detail is None:
        return None
    bounded = {**detail, "message": storable_text(str(detail.get("message", "")), _DETAIL_CHARS)}
    if "details" in detail:
        bounded["details"] = [{k: storable_text(str(v), _DETAIL_CHARS) for k, v in d.items()}
                              for d in detail["details"][:20]]
    return bounded


@dataclass
class AuditEntry:
    admin_id: str
    action: str
    service: str
    request_id: str
    request: dict
    reason: str | None = None
    metadata: dict | None = None
    command_id: str | None = None
    outcome: str = PENDING
    error_code: str | None = None
    detail: dict | None = field(default=None)


class AuditLog:
    def __init__(self, db: Database):
        self.db = db

    async def open(self, entry: AuditEntry) -> int:
        """Write the attempt before acting on it; raises DependencyUnavailable when it cannot be written."""

        async def insert(conn: psycopg.AsyncConnection) -> int:
            cursor = await conn.execute(
                "INSERT INTO admin_audit_log (admin_id, action, service_name, request_id, command_id, reason,"
                " metadata, request, outcome, error_code, detail)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (entry.admin_id, entry.action, entry.service, entry.request_id, entry.command_id, entry.reason,
                 jsonb(entry.metadata) if entry.metadata is not None else None, jsonb(entry.request),
                 entry.outcome, entry.error_code, jsonb(_storable_detail(entry.detail))
                 if entry.detail is not None else None))
            row = await cursor.fetchone()
            return int(row[0])

        return await self.db.run(insert)

    async def close(self, audit_id: int, outcome: str, *, command_id: str | None = None,
                    error_code: str | None = None, detail: dict | None = None) -> None:
        """Record how an opened attempt ended; a failure to do so is logged, the attempt stays `pending`."""

        async def update(conn: psycopg.AsyncConnection) -> None:
            await conn.execute(
                "UPDATE admin_audit_log SET outcome = %s, command_id = COALESCE(%s, command_id),"
                " error_code = %s, detail = %s WHERE id = %s",
                (outcome, command_id, error_code, jsonb(detail) if detail is not None else None, audit_id))

        try:
            await self.db.run(update)
        except (DependencyUnavailable, psycopg.Error) as exc:
            logger.error("could not record outcome %s of audit row %d: %r", outcome, audit_id, exc)

    async def record_rejection(self, entry: AuditEntry) -> None:
        """Write a refused attempt (validation, rate limit, unknown service); logged when PostgreSQL fails.

        A row PostgreSQL refuses as data is written again without the request's own values."""
        try:
            try:
                await self.open(entry)
            except psycopg.DataError as exc:
                logger.warning("audit row of request_id=%s refused as data (%r); storing it without the request",
                               entry.request_id, exc)
                await self.open(AuditEntry(entry.admin_id, entry.action, storable_service(entry.service),
                                           entry.request_id, request={"excerpt": None, "unstorable": repr(exc)[:300]},
                                           outcome=entry.outcome, error_code=entry.error_code,
                                           detail={"message": "the request could not be stored"}))
        except (DependencyUnavailable, psycopg.Error) as exc:
            logger.error("could not audit a rejected %s of %r by %r (request_id=%s, outcome=%s): %r",
                         entry.action, entry.service, entry.admin_id, entry.request_id, entry.error_code, exc)


# The stored command types, as the audit trail names them.
ACTION_NAMES = {CONFIG_UPDATE: "config", BREAKER_RESET: "reset", "whatif": "whatif"}


class AuditTrail:
    """One service's audit rows, newest first, as `GET /{service}/audit` answers them."""

    def __init__(self, db: Database):
        self.db = db

    async def read(self, service: str, since: datetime, until: datetime, limit: int) -> list[dict]:
        # Rows are stamped in microseconds but shown in milliseconds: `until` takes in its whole millisecond, so
        # a timestamp read from the trail and sent back as `until` includes that row.
        before = until.replace(microsecond=until.microsecond // 1000 * 1000) + timedelta(milliseconds=1)

        rows = await self.db.fetch_all(
            "SELECT id, at, admin_id, action, outcome, reason, error_code, command_id, request, metadata, detail"
            " FROM admin_audit_log WHERE service_name = %s AND at >= %s AND at < %s"
            " ORDER BY at DESC, id DESC LIMIT %s",
            (service, since, before, limit))
        return [{"id": int(row_id), "at": iso_datetime(at), "adminId": admin_id,
                 "action": ACTION_NAMES.get(action, action), "outcome": outcome, "reason": reason,
                 "errorCode": error_code, "commandId": str(command_id) if command_id is not None else None,
                 "request": request if request is not None else {}, "metadata": metadata, "detail": detail}
                for row_id, at, admin_id, action, outcome, reason, error_code, command_id, request, metadata, detail
                in rows]

    async def has_rows(self, service: str) -> bool:
        return bool(await self.db.fetch_all("SELECT 1 FROM admin_audit_log WHERE service_name = %s LIMIT 1",
                                            (service,)))
