"""The WebSocket hub's answers to client messages, without a network: pong echoes are bounded like every message."""
from __future__ import annotations

from fusebox.api.metrics import ApiMetrics
from fusebox.api.state_view import StateView
from fusebox.api.ws import CLOSE_TOO_SLOW, WsClient, WsHub
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
