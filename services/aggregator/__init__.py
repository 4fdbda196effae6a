"""The aggregator: a Faust app folding outcomes and commands into breaker state."""
