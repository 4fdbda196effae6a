-- depends: 0001.circuit-breaker-config
-- The seed's migration, verbatim.
ALTER TABLE circuit_breaker_config
ADD COLUMN reset_timeout_ms INTEGER NOT NULL DEFAULT 30000,
ADD COLUMN min_healthy_period_ms INTEGER NOT NULL DEFAULT 60000;

CREATE TABLE circuit_breaker_history (
  id SERIAL PRIMARY KEY,
  service_name VARCHAR(255) NOT NULL,
  timestamp TIMESTAMP NOT NULL,
  status VARCHAR(50) NOT NULL,
  metrics JSONB NOT NULL
);
