"""Settings shared by every Fusebox process: environment variables with local defaults (docs/configuration.md)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from fusebox.core.topics import DEFAULT_OUTCOME_RETENTION_DAYS
from fusebox.storage.schema import InvalidSchema, resolve_schema

# How long health history is kept (FUSEBOX_HISTORY_RETENTION_DAYS defaults to it), and the window
# that `GET …/history` and `fusebox replay` look back over.
HISTORY_RETENTION_DAYS = 7

DEV_JWT_SECRET = "fusebox-dev-secret-change-me-0123456789abcdef"
DEV_ENVIRONMENT = "dev"
DEFAULT_JWT_MAX_LIFETIME_S = 24 * 60 * 60


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


def _positive(name: str, default: int) -> int:
    value = env_int(name, default)
    if value <= 0:
        raise SystemExit(f"{name} must be a positive number of seconds, got {value}")
    return value


def _positive_days(name: str, default: int) -> int:
    value = env_int(name, default)
    if value <= 0:
        raise SystemExit(f"{name} must be a positive number of days, got {value}")
    return value


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
    jwt_secret: str | None
    api_host: str
    api_port: int
    aggregator_port: int
    heartbeat_ms: int
    environment: str
    db_schema: str
    # Topics Fusebox creates (and the aggregator's changelog): 1 on the local stack, 3 in production.
    topic_replication_factor: int = 1
    topic_min_insync_replicas: int | None = None  # None: the broker's min.insync.replicas
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_max_lifetime_s: int | None = DEFAULT_JWT_MAX_LIFETIME_S
    # Retention of the topics a re-fold reads, given to them when they are created.
    outcome_retention_days: int = DEFAULT_OUTCOME_RETENTION_DAYS

    def required_jwt_secret(self) -> str:
        """The JWT secret of a process that signs or checks tokens; stops the process when there is none."""
        if self.jwt_secret is None:
            raise SystemExit("FUSEBOX_JWT_SECRET is not set: set it to the admin tokens' signing secret "
                             "(or FUSEBOX_ENV=dev to use the public development secret on a local stack)")
        return self.jwt_secret

    @classmethod
    def from_env(cls) -> "Settings":
        # The development secret is public: it is used only where FUSEBOX_ENV=dev says so, never
        # merely because no secret was configured.
        environment = _env("FUSEBOX_ENV", "production") or "production"
        jwt_secret = _env("FUSEBOX_JWT_SECRET", None)
        if jwt_secret is None and environment == DEV_ENVIRONMENT:
            jwt_secret = DEV_JWT_SECRET
        topic_prefix = os.environ.get("FUSEBOX_TOPIC_PREFIX", "fusebox.")
        try:
            db_schema = resolve_schema(_env("FUSEBOX_DB_SCHEMA", None), topic_prefix)
        except InvalidSchema as exc:
            raise SystemExit(f"FUSEBOX_DB_SCHEMA: {exc}") from exc
        return cls(
            kafka_bootstrap=_env("FUSEBOX_KAFKA_BOOTSTRAP", "127.0.0.1:19092") or "",
            database_url=_env("FUSEBOX_DATABASE_URL", "postgresql://fusebox@127.0.0.1:15432/fusebox") or "",
            redis_url=os.environ.get("REDIS_URL") or None,
            topic_prefix=topic_prefix,
            jwt_secret=jwt_secret,
            api_host=_env("FUSEBOX_API_HOST", "127.0.0.1") or "127.0.0.1",
            api_port=env_int("FUSEBOX_API_PORT", 8080),
            aggregator_port=env_int("FUSEBOX_AGGREGATOR_PORT", 6066),
            heartbeat_ms=env_int("FUSEBOX_HEARTBEAT_MS", 5000),
            environment=environment,
            topic_replication_factor=env_int("FUSEBOX_TOPIC_REPLICATION_FACTOR", 1),
            topic_min_insync_replicas=env_int("FUSEBOX_TOPIC_MIN_INSYNC_REPLICAS", 0) or None,
            db_schema=db_schema,
            jwt_issuer=_env("FUSEBOX_JWT_ISSUER", None),
            jwt_audience=_env("FUSEBOX_JWT_AUDIENCE", None),
            jwt_max_lifetime_s=_positive("FUSEBOX_JWT_MAX_LIFETIME_S", DEFAULT_JWT_MAX_LIFETIME_S),
            outcome_retention_days=_positive_days("FUSEBOX_OUTCOME_RETENTION_DAYS", DEFAULT_OUTCOME_RETENTION_DAYS),
        )
