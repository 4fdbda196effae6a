"""AdminClient.services: the state a client holds across resumed and fresh (other replica) connects."""
from __future__ import annotations

import aiohttp

from fusebox.core import codec
from fusebox.sdk.admin_client import AdminClient


class Frames:
    """A stand-in for a client WebSocket that delivers the given server messages, then ends."""

    def __init__(self, *messages: dict) -> None:
        self.messages = [aiohttp.WSMessage(aiohttp.WSMsgType.TEXT, codec.dumps(m).decode(), None) for m in messages]
        self.sent: list[str] = []

    def __aiter__(self):
        return self._iterate()

    async def _iterate(self):
        for message in self.messages:
            yield message

    async def send_str(self, data: str) -> None:
        self.sent.append(data)


def status(session: str, seq: int, resumed: bool) -> dict:
    return {"type": "connection:status", "status": "connected", "timestamp": "2026-12-01T00:00:00.000Z",
            "reconnectAttempts": 0, "sessionId": session, "seq": seq, "resumed": resumed, "snapshotSize": 0}


def update(service: str, seq: int, version: int) -> dict:
    return {"type": "service:update", "service": service, "seq": seq, "data": {"service": service, "version": version}}


async def test_updates_and_removals_keep_the_latest_state_of_each_service():
    client = AdminClient("ws://unused", "token", lambda event: None)
    await client._receive(Frames(status("s1", 2, False), update("a", 1, 1), update("b", 2, 1), update("a", 3, 2),
                                 {"type": "service:remove", "service": "b", "seq": 4}))
    assert client.services == {"a": {"service": "a", "version": 2}}
    assert (client.session_id, client.last_seq) == ("s1", 4)


async def test_a_resumed_connect_keeps_the_state_and_a_fresh_snapshot_replaces_it():
    client = AdminClient("ws://unused", "token", lambda event: None)
    await client._receive(Frames(status("s1", 2, False), update("a", 1, 1), update("gone", 2, 1)))
    # the same replica still holds the session: only the missed messages follow
    await client._receive(Frames(status("s1", 3, True), update("a", 3, 2)))
    assert client.services == {"a": {"service": "a", "version": 2}, "gone": {"service": "gone", "version": 1}}
    # another replica (or a restarted one) does not know the session: a new one and a full snapshot
    await client._receive(Frames(status("s2", 40, False), update("a", 17, 3)))
    assert client.services == {"a": {"service": "a", "version": 3}}
    assert (client.session_id, client.last_seq) == ("s2", 40)
