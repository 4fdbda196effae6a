"""The audit log: one `admin_audit_log` row per config change or reset attempt, whatever its outcome."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import psycopg

from fusebox.api.dependency_guard import DependencyUnavailable
from fusebox.api.storage import Database, jsonb

logger = logging.getLogger("fusebox.api.audit")

PENDING = "pending"


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
                 entry.outcome, entry.error_code, jsonb(entry.detail) if entry.detail is not None else None))
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
        """Write a refused attempt (validation, rate limit, unknown service); best effort, logged on failure."""
        try:
            await self.open(entry)
        except (DependencyUnavailable, psycopg.Error) as exc:
            logger.error("could not audit a rejected %s of %r by %r (request_id=%s, outcome=%s): %r",
                         entry.action, entry.service, entry.admin_id, entry.request_id, entry.error_code, exc)
