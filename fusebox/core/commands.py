"""The BreakerCommand message: its three types, named once, and the one way to build one.

Pure, like the rest of the core: the caller supplies the id and the time.
"""
from __future__ import annotations

from typing import Any

CONFIG_UPDATE = "config.update"
BREAKER_RESET = "breaker.reset"
TICK = "tick"
COMMAND_TYPES = (CONFIG_UPDATE, BREAKER_RESET, TICK)


def breaker_command(command_id: str, service: str, command_type: str, issued_at: int, issued_by: str,
                    payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """A BreakerCommand for `breaker-commands` (docs/topics-and-events.md), keyed by `service`."""
    return {"commandId": command_id, "service": service, "type": command_type, "issuedAt": issued_at,
            "issuedBy": issued_by, "payload": {} if payload is None else payload}
