"""Settings shared by every Fusebox process: environment variables with local defaults (docs/configuration.md)."""
from __future__ import annotations

import os
from dataclasses import dataclass

# How long health history is kept (FUSEBOX_HISTORY_RETENTION_DAYS defaults to it), and the window
# that `GET …/history` and `fusebox replay` look back over.
HISTORY_RETENTION_DAYS = 7

DEV_JWT_SECRET = "fusebox-dev-secret-change-me-0123456789abcdef"


def _env(name: str, default: str | None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _env_parsed(name: str, default, parse, kind: str):
    """A parsed environment variable; a malformed value stops the process naming the variable."""
    raw = _env(name, str(default))
    try:
        return parse(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be {kind}, got {raw!r}") from exc


def env_int(name: str, default: int) -> int:
    return _env_parsed(name, default, int, "an integer")


def env_number(name: str, default: float) -> float:
    return _env_parsed(name, default, float, "a number")


def env_switch(name: str, default: bool) -> bool:
    raw = (os.environ.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("on", "true", "1", "yes"):
        return True
    if raw in ("off", "false", "0", "no"):
        return False
    raise SystemExit(f"{name} must be on or off, got {raw!r}")


@dataclass(frozen=True, slots=True)
class Settings:
    kafka_bootstrap: str
    database_url: str
    redis_url: str | None
    topic_prefix: str
    jwt_secret: str
    api_host: str
    api_port: int
    aggregator_port: int
    heartbeat_ms: int
    environment: str

    @classmethod
    def from_env(cls) -> "Settings":
        environment = _env("FUSEBOX_ENV", "dev") or "dev"
        jwt_secret = _env("FUSEBOX_JWT_SECRET", None)
        if jwt_secret is None:
            if environment != "dev":
                raise SystemExit("FUSEBOX_JWT_SECRET is required when FUSEBOX_ENV is not 'dev'")
            jwt_secret = DEV_JWT_SECRET
        return cls(
            kafka_bootstrap=_env("FUSEBOX_KAFKA_BOOTSTRAP", "127.0.0.1:19092") or "",
            database_url=_env("FUSEBOX_DATABASE_URL", "postgresql://fusebox@127.0.0.1:15432/fusebox") or "",
            redis_url=os.environ.get("REDIS_URL") or None,
            topic_prefix=os.environ.get("FUSEBOX_TOPIC_PREFIX", "fusebox."),
            jwt_secret=jwt_secret,
            api_host=_env("FUSEBOX_API_HOST", "127.0.0.1") or "127.0.0.1",
            api_port=env_int("FUSEBOX_API_PORT", 8080),
            aggregator_port=env_int("FUSEBOX_AGGREGATOR_PORT", 6066),
            heartbeat_ms=env_int("FUSEBOX_HEARTBEAT_MS", 5000),
            environment=environment,
        )
