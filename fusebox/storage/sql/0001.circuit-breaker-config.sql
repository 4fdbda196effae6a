-- The configuration table the seed's migration alters: one row per service.
CREATE TABLE circuit_breaker_config (
    service_name      VARCHAR(255) PRIMARY KEY,
    failure_threshold INTEGER NOT NULL DEFAULT 5,
    request_limit     INTEGER,
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by        TEXT
);
