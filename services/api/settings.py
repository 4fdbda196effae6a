"""The gateway's settings: the shared Settings plus the API's own knobs (env vars with defaults)."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace

from fusebox.aggregator.settings import max_clock_skew_ms_from_env
from fusebox.auth import TokenPolicy
from fusebox.core.admission import DEFAULT_MAX_CLOCK_SKEW_MS
from fusebox.settings import DEFAULT_JWT_MAX_LIFETIME_S, Settings, env_int
from fusebox.storage.schema import resolve_schema


@dataclass(frozen=True, slots=True)
class ApiSettings:
    kafka_bootstrap: str
    database_url: str
    redis_url: str | None
    topic_prefix: str
    jwt_secret: str
    host: str = "127.0.0.1"
    port: int = 8080
    heartbeat_ms: int = 5000
    # A client is closed after this many heartbeats without a pong.
    heartbeat_misses: int = 2
    command_timeout_ms: int = 5000
    kafka_send_timeout_ms: int = 5000
    db_timeout_ms: int = 3000
    max_body_bytes: int = 64 * 1024
    rate_limit_burst: int = 10
    rate_limit_per_minute: int = 30
    ws_batch_ms: int = 150
    ws_client_max_pending_bytes: int = 4 * 1024 * 1024
    ws_resume_buffer: int = 10_000
    # Origins allowed to open the admin WebSocket besides the gateway's own (a browser always sends Origin).
    ws_allowed_origins: tuple[str, ...] = ()
    ws_max_connections_per_admin: int = 20
    ws_max_connections: int = 10_000
    breaker_failure_threshold: int = 3
    breaker_reset_timeout_ms: int = 5000
    metrics_cache_ttl_s: int = 5
    history_max_limit: int = 1000
    # FUSEBOX_DB_SCHEMA; None derives the schema from the topic prefix
    db_schema: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_max_lifetime_s: int | None = DEFAULT_JWT_MAX_LIFETIME_S
    # What-ifs: how long one re-fold may take, and the workers' admission bound (FUSEBOX_MAX_CLOCK_SKEW_MS).
    whatif_time_limit_s: int = 60
    max_clock_skew_ms: int = DEFAULT_MAX_CLOCK_SKEW_MS

    @classmethod
    def from_env(cls) -> "ApiSettings":
        shared = Settings.from_env()
        return cls(
            kafka_bootstrap=shared.kafka_bootstrap,
            database_url=shared.database_url,
            redis_url=shared.redis_url,
            topic_prefix=shared.topic_prefix,
            jwt_secret=shared.required_jwt_secret(),
            host=shared.api_host,
            port=shared.api_port,
            heartbeat_ms=shared.heartbeat_ms,
            db_schema=shared.db_schema,
            jwt_issuer=shared.jwt_issuer,
            jwt_audience=shared.jwt_audience,
            jwt_max_lifetime_s=shared.jwt_max_lifetime_s,
            command_timeout_ms=env_int("FUSEBOX_API_COMMAND_TIMEOUT_MS", 5000),
            kafka_send_timeout_ms=env_int("FUSEBOX_API_KAFKA_SEND_TIMEOUT_MS", 5000),
            db_timeout_ms=env_int("FUSEBOX_API_DB_TIMEOUT_MS", 3000),
            max_body_bytes=env_int("FUSEBOX_API_MAX_BODY_BYTES", 64 * 1024),
            rate_limit_burst=env_int("FUSEBOX_API_RATE_LIMIT_BURST", 10),
            rate_limit_per_minute=env_int("FUSEBOX_API_RATE_LIMIT_PER_MINUTE", 30),
            ws_batch_ms=env_int("FUSEBOX_API_WS_BATCH_MS", 150),
            ws_client_max_pending_bytes=env_int("FUSEBOX_API_WS_CLIENT_MAX_PENDING_BYTES", 4 * 1024 * 1024),
            ws_resume_buffer=env_int("FUSEBOX_API_WS_RESUME_BUFFER", 10_000),
            ws_allowed_origins=parse_origins(os.environ.get("FUSEBOX_API_WS_ALLOWED_ORIGINS", "")),
            ws_max_connections_per_admin=env_int("FUSEBOX_API_WS_MAX_CONNECTIONS_PER_ADMIN", 20),
            ws_max_connections=env_int("FUSEBOX_API_WS_MAX_CONNECTIONS", 10_000),
            breaker_failure_threshold=env_int("FUSEBOX_API_BREAKER_FAILURE_THRESHOLD", 3),
            breaker_reset_timeout_ms=env_int("FUSEBOX_API_BREAKER_RESET_TIMEOUT_MS", 5000),
            whatif_time_limit_s=env_int("FUSEBOX_API_WHATIF_TIME_LIMIT_S", 60),
            max_clock_skew_ms=max_clock_skew_ms_from_env(),
        )

    @property
    def token_policy(self) -> TokenPolicy:
        return TokenPolicy(self.jwt_secret, self.jwt_issuer, self.jwt_audience, self.jwt_max_lifetime_s)

    @property
    def schema(self) -> str:
        """This deployment's PostgreSQL schema."""
        return resolve_schema(self.db_schema, self.topic_prefix)

    def with_(self, **changes) -> "ApiSettings":
        return replace(self, **changes)


def parse_origins(raw: str) -> tuple[str, ...]:
    """`https://ops.example.com, http://127.0.0.1:5173` → normalised origins (lower case, no trailing slash)."""
    return tuple(origin.strip().rstrip("/").lower() for origin in raw.split(",") if origin.strip())
