-- depends: 0006.breaker-transitions
-- The shadow breaker's transitions (docs/shadow-config.md) share the table: a shadow breaker counts
-- its circuit changes from where the real one stood when it was set, so `shadow` joins the natural key.
ALTER TABLE circuit_breaker_transitions ADD COLUMN shadow BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE circuit_breaker_transitions DROP CONSTRAINT circuit_breaker_transitions_pkey;
ALTER TABLE circuit_breaker_transitions ADD PRIMARY KEY (service_name, shadow, seq);
