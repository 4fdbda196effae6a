"""Health history from `circuit_breaker_history`: one entry per status period, oldest first; and the
breaker's transitions from `circuit_breaker_transitions`, in their order."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from fusebox.api.storage import Database
from fusebox.core.isotime import iso_datetime
from fusebox.settings import HISTORY_RETENTION_DAYS

RETENTION = timedelta(days=HISTORY_RETENTION_DAYS)


class HistoryReader:
    def __init__(self, db: Database):
        self.db = db

    async def read(self, service: str, since: datetime, until: datetime, limit: int) -> list[dict]:
        # The column is a TIMESTAMP holding UTC, so bounds go in as naive UTC.
        since_utc = since.astimezone(timezone.utc).replace(tzinfo=None)
        until_utc = until.astimezone(timezone.utc).replace(tzinfo=None)

        rows = await self.db.fetch_all(
            "SELECT timestamp, status, duration_ms, incidents FROM circuit_breaker_history"
            " WHERE service_name = %s AND timestamp >= %s AND timestamp <= %s"
            " ORDER BY timestamp, seq LIMIT %s",
            (service, since_utc, until_utc, limit))
        return [{"timestamp": iso_datetime(ts), "status": status, "duration": int(duration), "incidents": int(incidents)}
                for ts, status, duration, incidents in rows]


class TransitionReader:
    def __init__(self, db: Database):
        self.db = db

    async def read(self, service: str, since: datetime, until: datetime, limit: int,
                   shadow: bool | None = None) -> list[dict]:
        """BreakerTransitions of `service` with `at` in [since, until], oldest first (by time, then seq);
        only the real breaker's or only the shadow's when `shadow` says which."""
        since_utc = since.astimezone(timezone.utc).replace(tzinfo=None)
        until_utc = until.astimezone(timezone.utc).replace(tzinfo=None)
        rows = await self.db.fetch_all(
            "SELECT transition FROM circuit_breaker_transitions"
            " WHERE service_name = %s AND at >= %s AND at <= %s AND (%s::boolean IS NULL OR shadow = %s)"
            " ORDER BY at, shadow, seq LIMIT %s",
            (service, since_utc, until_utc, shadow, shadow, limit))
        return [transition for (transition,) in rows]
