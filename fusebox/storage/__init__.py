"""PostgreSQL: versioned migrations and the shared connection settings."""
