-- depends: 0007.shadow-transitions
-- A failed period names the transition into open that began it (circuit_breaker_transitions.seq
-- of the same service); NULL for other periods and for periods that began before it was recorded.
ALTER TABLE circuit_breaker_history
ADD COLUMN transition_seq BIGINT;
