"""The WebSocket hub's answers to client messages, without a network: pong echoes are bounded like every message."""
from __future__ import annotations

from fusebox.api.metrics import ApiMetrics
from fusebox.api.state_view import StateView
from fusebox.api.ws import CLOSE_TOO_SLOW, WsClient, WsHub, ws_text_frame
from fusebox.core import codec


def hub_and_client(max_pending_bytes: int) -> tuple[WsHub, WsClient]:
    hub = WsHub(StateView(), ApiMetrics(), heartbeat_s=5, heartbeat_misses=2, batch_s=0.15,
                max_pending_bytes=max_pending_bytes, resume_buffer=100)
    client = WsClient(ws=None, request=None, session_id="s", max_pending_bytes=max_pending_bytes)
    hub.clients.add(client)
    return hub, client


def test_a_client_flooding_pings_without_reading_is_dropped_at_its_byte_bound():
    hub, client = hub_and_client(max_pending_bytes=1000)
    pong = codec.dumps({"type": "pong", "timestamp": 1234567890123})
    # Nobody drains the queue (the client reads nothing): the pongs pile up until the bound
    sent = 0
    while client in hub.clients and sent < 1000:
        hub.receive(client, '{"type":"ping","timestamp":1234567890123}')
        sent += 1
    assert client not in hub.clients and client.closing
    assert sent == 1000 // len(pong) + 1  # the pong that takes the queue past the bound drops the client
    assert client._close_request[0] == CLOSE_TOO_SLOW
    assert hub.metrics.ws_dropped_clients.labels(reason="slow")._value.get() == 1


def test_the_pong_echo_counts_toward_the_pending_bytes():
    hub, client = hub_and_client(max_pending_bytes=10_000)
    hub.receive(client, '{"type":"ping","timestamp":42}')
    assert client._pending_bytes == len(codec.dumps({"type": "pong", "timestamp": 42}))


def test_only_a_numeric_timestamp_is_echoed():
    hub, client = hub_and_client(max_pending_bytes=10_000)
    for text in ('{"type":"ping","timestamp":' + "[" * 300 + "]" * 300 + "}", '{"type":"ping","timestamp":true}',
                 '{"type":"ping","timestamp":"5"}', '{"type":"ping"}', "[]", "{", '{"type":"pong","timestamp":[]}'):
        hub.receive(client, text)
    assert client._pending_bytes == 0 and client in hub.clients
    hub.receive(client, '{"type":"ping","timestamp":1.5}')
    assert client._pending_bytes == len(codec.dumps({"type": "pong", "timestamp": 1.5}))


class _Transport:
    """The part of an asyncio transport the hub writes to: what was written, and how much is still unsent."""

    def __init__(self, unsent: int = 0):
        self.written: list[bytes] = []
        self.unsent = unsent

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self.unsent

    def write(self, data: bytes) -> None:
        self.written.append(data)


class _Request:
    def __init__(self, transport: _Transport):
        self.transport = transport


def test_a_caught_up_client_gets_each_flush_in_one_write_and_one_with_a_backlog_queues_it_in_order():
    hub = WsHub(StateView(), ApiMetrics(), heartbeat_s=5, heartbeat_misses=2, batch_s=0.15,
                max_pending_bytes=10_000, resume_buffer=100)
    caught_up, behind = _Transport(), _Transport()
    first = WsClient(ws=None, request=_Request(caught_up), session_id="a", max_pending_bytes=10_000)
    second = WsClient(ws=None, request=_Request(behind), session_id="b", max_pending_bytes=10_000)
    second.push([b'{"type":"connection:status"}'], force=True)  # its snapshot is still queued
    hub.clients |= {first, second}
    hub.on_change("s1", {"circuit": {"state": "closed"}})
    hub.on_change("s2", {"circuit": {"state": "open"}})
    hub.flush()
    frames = [codec.dumps({"type": "service:update", "service": s, "seq": n, "data": d}) for s, n, d in
              (("s1", 1, {"circuit": {"state": "closed"}}), ("s2", 2, {"circuit": {"state": "open"}}))]
    assert caught_up.written == [ws_text_frame(frames[0]) + ws_text_frame(frames[1])]
    assert behind.written == [] and list(second._queue) == [b'{"type":"connection:status"}', *frames]


def test_the_bound_counts_what_the_socket_has_not_sent_yet():
    hub = WsHub(StateView(), ApiMetrics(), heartbeat_s=5, heartbeat_misses=2, batch_s=0.15,
                max_pending_bytes=1000, resume_buffer=100)
    transport = _Transport(unsent=990)
    client = WsClient(ws=None, request=_Request(transport), session_id="a", max_pending_bytes=1000)
    hub.clients.add(client)
    hub.on_change("s1", {"circuit": {"state": "closed"}})
    hub.flush()
    assert client not in hub.clients and client._close_request[0] == CLOSE_TOO_SLOW


def test_text_frames_carry_their_length_in_the_form_its_size_needs():
    for size, header in ((0, b"\x81\x00"), (125, b"\x81\x7d"), (126, b"\x81\x7e\x00\x7e"),
                         (65535, b"\x81\x7e\xff\xff"), (65536, b"\x81\x7f" + (65536).to_bytes(8, "big"))):
        payload = b"x" * size
        assert ws_text_frame(payload) == header + payload
