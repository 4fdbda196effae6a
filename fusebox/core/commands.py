"""The BreakerCommand message: its types, named once, and the one way to build one.

Pure, like the rest of the core: the caller supplies the id and the time.
"""
from __future__ import annotations

from typing import Any

CONFIG_UPDATE = "config.update"
BREAKER_RESET = "breaker.reset"
TICK = "tick"
# A shadow config (docs/shadow-config.md): set (a partial config, merged onto the live one when
# folded), cleared, or promoted to the live config.
SHADOW_SET = "shadow-config.set"
SHADOW_CLEAR = "shadow-config.clear"
SHADOW_PROMOTE = "shadow-config.promote"
SHADOW_COMMAND_TYPES = (SHADOW_SET, SHADOW_CLEAR, SHADOW_PROMOTE)
COMMAND_TYPES = (CONFIG_UPDATE, BREAKER_RESET, TICK) + SHADOW_COMMAND_TYPES


def breaker_command(command_id: str, service: str, command_type: str, issued_at: int, issued_by: str,
                    payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """A BreakerCommand for `breaker-commands` (docs/topics-and-events.md), keyed by `service`."""
    return {"commandId": command_id, "service": service, "type": command_type, "issuedAt": issued_at,
            "issuedBy": issued_by, "payload": {} if payload is None else payload}
