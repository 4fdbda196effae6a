"""Health history from `circuit_breaker_history`: one entry per status period, oldest first."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg

from fusebox.api.storage import Database

RETENTION = timedelta(days=7)


def iso_utc(value: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a `Z`, as every REST timestamp (schemas/README.md, Encoding)."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


class HistoryReader:
    def __init__(self, db: Database):
        self.db = db

    async def read(self, service: str, since: datetime, until: datetime, limit: int) -> list[dict]:
        # The column is a TIMESTAMP holding UTC, so bounds go in as naive UTC.
        since_utc = since.astimezone(timezone.utc).replace(tzinfo=None)
        until_utc = until.astimezone(timezone.utc).replace(tzinfo=None)

        async def select(conn: psycopg.AsyncConnection) -> list[tuple]:
            cursor = await conn.execute(
                "SELECT timestamp, status, duration_ms, incidents FROM circuit_breaker_history"
                " WHERE service_name = %s AND timestamp >= %s AND timestamp <= %s"
                " ORDER BY timestamp, seq LIMIT %s",
                (service, since_utc, until_utc, limit))
            return await cursor.fetchall()

        rows = await self.db.run(select)
        return [{"timestamp": iso_utc(ts), "status": status, "duration": int(duration), "incidents": int(incidents)}
                for ts, status, duration, incidents in rows]
