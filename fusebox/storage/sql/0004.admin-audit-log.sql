-- depends: 0003.history-natural-key
-- Every reset and config change an admin attempts, whatever its outcome.
CREATE TABLE admin_audit_log (
    id           BIGSERIAL PRIMARY KEY,
    at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    admin_id     TEXT NOT NULL,
    action       TEXT NOT NULL,
    service_name VARCHAR(255) NOT NULL,
    request_id   TEXT NOT NULL,
    command_id   UUID,
    reason       TEXT,
    metadata     JSONB,
    request      JSONB NOT NULL,
    outcome      TEXT NOT NULL,
    error_code   TEXT,
    detail       JSONB
);

CREATE INDEX admin_audit_log_service_at ON admin_audit_log (service_name, at);
CREATE INDEX admin_audit_log_admin_at ON admin_audit_log (admin_id, at);
