"""The aggregator's settings: the shared Settings plus its own knobs (environment, local defaults)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from fusebox.settings import Settings


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from exc


@dataclass(frozen=True, slots=True)
class AggregatorSettings:
    shared: Settings
    app_id: str
    data_dir: str
    flush_interval_s: float
    max_batch: int
    tick_interval_s: float
    sink_batch: int
    history_retention_days: int
    session_timeout_s: float

    @classmethod
    def from_env(cls) -> "AggregatorSettings":
        shared = Settings.from_env()
        return cls(
            shared=shared,
            app_id=os.environ.get("FUSEBOX_AGGREGATOR_APP_ID", f"{shared.topic_prefix}aggregator"),
            data_dir=os.path.abspath(os.environ.get("FUSEBOX_AGGREGATOR_DATA_DIR", ".run/aggregator-data")),
            flush_interval_s=_number("FUSEBOX_FLUSH_INTERVAL_MS", 100) / 1000,
            max_batch=int(_number("FUSEBOX_AGGREGATOR_MAX_BATCH", 5000)),
            tick_interval_s=_number("FUSEBOX_TICK_INTERVAL_MS", 500) / 1000,
            sink_batch=int(_number("FUSEBOX_SINK_BATCH", 1000)),
            history_retention_days=int(_number("FUSEBOX_HISTORY_RETENTION_DAYS", 7)),
            session_timeout_s=_number("FUSEBOX_AGGREGATOR_SESSION_TIMEOUT_MS", 10000) / 1000,
        )
