"""Fusebox: a control plane for circuit breakers."""
