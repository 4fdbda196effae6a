"""The aggregator's settings: the shared Settings plus its own knobs (environment, local defaults)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from fusebox.core.admission import DEFAULT_MAX_CLOCK_SKEW_MS
from fusebox.settings import HISTORY_RETENTION_DAYS, Settings, env_int, env_number, env_switch


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
    web_host: str
    rollups: bool
    rollup_live_interval_s: float
    rollup_minute_retention_hours: int
    rollup_hour_retention_days: int
    max_clock_skew_ms: int

    @classmethod
    def from_env(cls) -> "AggregatorSettings":
        shared = Settings.from_env()
        return cls(
            shared=shared,
            app_id=os.environ.get("FUSEBOX_AGGREGATOR_APP_ID", f"{shared.topic_prefix}aggregator"),
            data_dir=os.path.abspath(os.environ.get("FUSEBOX_AGGREGATOR_DATA_DIR", ".run/aggregator-data")),
            flush_interval_s=env_number("FUSEBOX_FLUSH_INTERVAL_MS", 25) / 1000,
            max_batch=int(env_number("FUSEBOX_AGGREGATOR_MAX_BATCH", 50000)),
            tick_interval_s=env_number("FUSEBOX_TICK_INTERVAL_MS", 500) / 1000,
            sink_batch=int(env_number("FUSEBOX_SINK_BATCH", 1000)),
            history_retention_days=int(env_number("FUSEBOX_HISTORY_RETENTION_DAYS", HISTORY_RETENTION_DAYS)),
            session_timeout_s=env_number("FUSEBOX_AGGREGATOR_SESSION_TIMEOUT_MS", 10000) / 1000,
            web_host=os.environ.get("FUSEBOX_AGGREGATOR_HOST", "127.0.0.1"),
            rollups=env_switch("FUSEBOX_ROLLUPS", True),
            rollup_live_interval_s=env_number("FUSEBOX_ROLLUP_LIVE_INTERVAL_MS", 1000) / 1000,
            rollup_minute_retention_hours=int(env_number("FUSEBOX_ROLLUP_MINUTE_RETENTION_HOURS", 48)),
            rollup_hour_retention_days=int(env_number("FUSEBOX_ROLLUP_HOUR_RETENTION_DAYS", 31)),
            max_clock_skew_ms=max_clock_skew_ms_from_env(),
        )


def max_clock_skew_ms_from_env() -> int:
    """FUSEBOX_MAX_CLOCK_SKEW_MS: how far an event time may be ahead of its record's broker timestamp."""
    value = env_int("FUSEBOX_MAX_CLOCK_SKEW_MS", DEFAULT_MAX_CLOCK_SKEW_MS)
    if value < 0:
        raise SystemExit(f"FUSEBOX_MAX_CLOCK_SKEW_MS must be 0 or more, got {value}")
    return value
