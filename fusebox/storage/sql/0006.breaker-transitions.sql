-- depends: 0005.metric-rollups
-- Every change of circuit state with its cause (docs/trip-rules.md), from the breaker-transitions
-- topic. (service, seq) is the natural key the fold gives each transition, so the sink is
-- idempotent under replay and redelivery; kept as long as the health history.
CREATE TABLE circuit_breaker_transitions (
    service_name VARCHAR(255) NOT NULL,
    seq BIGINT NOT NULL,
    at TIMESTAMP NOT NULL,
    from_state VARCHAR(20) NOT NULL,
    to_state VARCHAR(20) NOT NULL,
    rule VARCHAR(40) NOT NULL,
    transition JSONB NOT NULL,
    PRIMARY KEY (service_name, seq)
);

CREATE INDEX circuit_breaker_transitions_service_time ON circuit_breaker_transitions (service_name, at);
CREATE INDEX circuit_breaker_transitions_time ON circuit_breaker_transitions (at);
