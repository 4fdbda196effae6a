"""The admin gateway: REST and WebSocket over the derived breaker state."""
