-- depends: 0002.seed-history-and-timeouts
-- Each status period of a service has a sequence number from the fold; (service, seq) is the
-- natural key that makes the history sink idempotent under replay and redelivery.
ALTER TABLE circuit_breaker_history
ADD COLUMN seq BIGINT NOT NULL,
ADD COLUMN duration_ms BIGINT NOT NULL,
ADD COLUMN incidents INTEGER NOT NULL DEFAULT 0;

CREATE UNIQUE INDEX circuit_breaker_history_service_seq ON circuit_breaker_history (service_name, seq);
CREATE INDEX circuit_breaker_history_service_time ON circuit_breaker_history (service_name, timestamp);
CREATE INDEX circuit_breaker_history_time ON circuit_breaker_history (timestamp);
