"""Health history from `circuit_breaker_history`: one entry per status period, oldest first; and the
breaker's transitions from `circuit_breaker_transitions`, in their order."""
from __future__ import annotations

from datetime import datetime, timedelta

from fusebox.api.storage import Database
from fusebox.core.isotime import iso_datetime, naive_utc
from fusebox.settings import HISTORY_RETENTION_DAYS

RETENTION = timedelta(days=HISTORY_RETENTION_DAYS)


class HistoryReader:
    def __init__(self, db: Database):
        self.db = db

    async def read(self, service: str, since: datetime, until: datetime, limit: int) -> list[dict]:
        rows = await self.db.fetch_all(
            "SELECT timestamp, status, duration_ms, incidents, transition_seq FROM circuit_breaker_history"
            " WHERE service_name = %s AND timestamp >= %s AND timestamp <= %s"
            " ORDER BY timestamp, seq LIMIT %s",
            (service, naive_utc(since), naive_utc(until), limit))
        return [entry_of(*row) for row in rows]


def entry_of(ts: datetime, status: str, duration: int, incidents: int, transition_seq: int | None) -> dict:
    """The seed's HealthHistoryEntry; a failed period adds the seq of the transition that began it."""
    entry = {"timestamp": iso_datetime(ts), "status": status, "duration": int(duration), "incidents": int(incidents)}
    if transition_seq is not None:
        entry["transitionSeq"] = int(transition_seq)
    return entry


class TransitionReader:
    def __init__(self, db: Database):
        self.db = db

    async def read(self, service: str, since: datetime, until: datetime, limit: int,
                   shadow: bool | None = None) -> list[dict]:
        """BreakerTransitions of `service` with `at` in [since, until], oldest first (by time, then seq);
        only the real breaker's or only the shadow's when `shadow` says which."""
        rows = await self.db.fetch_all(
            "SELECT transition FROM circuit_breaker_transitions"
            " WHERE service_name = %s AND at >= %s AND at <= %s AND (%s::boolean IS NULL OR shadow = %s)"
            " ORDER BY at, shadow, seq LIMIT %s",
            (service, naive_utc(since), naive_utc(until), shadow, shadow, limit))
        return [transition for (transition,) in rows]
