"""The admin WebSocket (docs/api.md): status, snapshot, coalesced updates, heartbeats, resume, slow clients, shutdown."""
from __future__ import annotations

import asyncio
import socket
import time

import aiohttp

from fusebox.api import keys
from fusebox.api.ws import CLOSE_GOING_AWAY, CLOSE_HEARTBEAT_MISSED
from fusebox.core import codec
from fusebox.core.schemas import schema_errors
from tests.integration.api.support import (admin_token, gateway_settings, open_ws, running_gateway,
                                           service_state, wait_for, ws_messages)

TOKEN = admin_token("alice")


def ws_url(gateway, **params) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{gateway.ws_url}?{query}" if query else gateway.ws_url


async def test_connect_sends_status_then_a_snapshot_of_every_service(kafka_topics, gateway, http):
    await kafka_topics.publish_states([service_state(f"snap-{i}") for i in range(3)])
    await wait_for(lambda: len(gateway.view) == 3, what="three states")
    await wait_for(lambda: gateway.app[keys.HUB].seq >= 3, what="the hub to flush")
    async with open_ws(http, ws_url(gateway, reconnectAttempts=2),
                               headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
        status, *snapshot = await ws_messages(ws, 4)
    assert status["type"] == "connection:status" and status["status"] == "connected"
    assert status["reconnectAttempts"] == 2 and status["sessionId"] and status["timestamp"].endswith("Z")
    assert status["snapshotSize"] == 3
    assert sorted(m["service"] for m in snapshot) == ["snap-0", "snap-1", "snap-2"]
    for message in snapshot:
        assert message["type"] == "service:update" and isinstance(message["seq"], int)
        assert {"status", "circuit", "operations"} <= set(message["data"])


async def test_changes_are_coalesced_per_service_and_circuit_changes_flush_at_once(stack, topics, database_url,
                                                                                   kafka_topics, http):
    settings = gateway_settings(stack, topics, database_url, ws_batch_ms=1000)
    async with running_gateway(settings) as gateway:
        async with open_ws(http, ws_url(gateway)) as ws:
            await ws_messages(ws, 1)
            # Given ten quick changes of one service's counters, all with the circuit closed
            await kafka_topics.publish_states([service_state("busy", version=v, operations={"total": v})
                                               for v in range(1, 11)])
            first = (await ws_messages(ws, 1))[0]
            await wait_for(lambda: gateway.view.get("busy") and gateway.view.get("busy")["version"] == 10,
                           what="all ten in the view")
            # Then the client sees far fewer than ten messages, ending at the latest version
            seen = [first]
            while seen[-1]["data"]["version"] != 10:
                seen += await ws_messages(ws, 1, timeout_s=5)
            assert len(seen) <= 3
            assert [m["seq"] for m in seen] == sorted(m["seq"] for m in seen)
            # When the circuit opens, the update does not wait for the 1 s batch window
            started = time.monotonic()
            await kafka_topics.publish_state(service_state("busy", version=11, status="failed",
                                                           circuit={"state": "open"}))
            opened = (await ws_messages(ws, 1, timeout_s=5))[0]
            assert opened["data"]["circuit"]["state"] == "open"
            assert time.monotonic() - started < 0.9


async def test_a_client_asking_for_batch_frames_gets_each_flush_in_one_service_batch(stack, topics, database_url,
                                                                                     kafka_topics, http):
    settings = gateway_settings(stack, topics, database_url, ws_batch_ms=1000)
    async with running_gateway(settings) as gateway:
        await kafka_topics.publish_state(service_state("gone", version=1))
        await wait_for(lambda: "gone" in gateway.view, what="the first state")
        async with open_ws(http, ws_url(gateway)) as plain, open_ws(http, ws_url(gateway, frames="batch")) as batched:
            # Both get the same plain status and snapshot
            assert [m["type"] for m in await ws_messages(plain, 2)] == ["connection:status", "service:update"]
            assert [m["type"] for m in await ws_messages(batched, 2)] == ["connection:status", "service:update"]
            # Given four changes and a removal within one batch window
            await kafka_topics.publish_states([service_state(f"b-{i}", version=1) for i in range(4)])
            await kafka_topics.remove_service("gone")
            # Then the plain client gets five frames, and the batch client the same five messages in service:batch
            # frames: each valid, in seq order, its seq that of its last message
            singles = await ws_messages(plain, 5)
            inside: list[dict] = []
            while len(inside) < 5:
                frame = (await ws_messages(batched, 1))[0]
                assert frame["type"] == "service:batch", frame
                assert schema_errors("ServiceBatchMessage", frame) == []
                assert frame["seq"] == frame["messages"][-1]["seq"]
                inside += frame["messages"]
            assert inside == singles
            assert [m["seq"] for m in inside] == list(range(inside[0]["seq"], inside[0]["seq"] + 5))
            assert {m["service"] for m in inside if m["type"] == "service:update"} == {f"b-{i}" for i in range(4)}
            assert [m["service"] for m in inside if m["type"] == "service:remove"] == ["gone"]


async def test_heartbeat_pings_on_schedule_pong_echo_and_dead_clients_closed(stack, topics, database_url, http):
    settings = gateway_settings(stack, topics, database_url, heartbeat_ms=300, heartbeat_misses=2)
    async with running_gateway(settings) as gateway:
        async with open_ws(http, ws_url(gateway), autoping=True) as ws:
            await ws_messages(ws, 1)
            # A client ping is answered at once with a pong echoing its timestamp
            await ws.send_str(codec.dumps({"type": "ping", "timestamp": 12345}).decode())
            assert (await ws_messages(ws, 1))[0] == {"type": "pong", "timestamp": 12345}
            # Server pings arrive every heartbeat; answering them records a round trip
            arrivals = []
            while len(arrivals) < 3:
                message = (await ws_messages(ws, 1, skip_pings=False, timeout_s=3))[0]
                if message["type"] == "ping":
                    arrivals.append(time.monotonic())
                    assert isinstance(message["timestamp"], int)
                    await ws.send_str(codec.dumps({"type": "pong", "timestamp": message["timestamp"]}).decode())
            gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
            assert all(0.2 < gap < 0.6 for gap in gaps), gaps
            await wait_for(lambda: gateway.metrics.ws_pong_rtt._sum.get() > 0, what="a recorded round trip")
        # A client that never answers is closed after the allowed misses
        async with open_ws(http, ws_url(gateway)) as silent:
            started = time.monotonic()
            while True:
                message = await silent.receive(timeout=5)
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    break
            assert silent.close_code == CLOSE_HEARTBEAT_MISSED
            assert time.monotonic() - started < 2.0


async def test_resume_by_session_and_last_seq_replays_what_was_missed(kafka_topics, gateway, http):
    async with open_ws(http, ws_url(gateway)) as ws:
        status = (await ws_messages(ws, 1))[0]
        await kafka_topics.publish_state(service_state("r1", version=1))
        first = (await ws_messages(ws, 1))[0]
    session, last_seq = status["sessionId"], first["seq"]
    # While disconnected, two more changes happen
    await kafka_topics.publish_state(service_state("r2", version=1))
    await kafka_topics.publish_state(service_state("r1", version=2))
    await wait_for(lambda: "r2" in gateway.view and gateway.view.get("r1")["version"] == 2, what="the changes")
    await asyncio.sleep(0)
    hub = gateway.app[keys.HUB]
    await wait_for(lambda: hub.seq >= last_seq + 2, what="the hub to flush them")
    async with open_ws(http, ws_url(gateway, sessionId=session, lastSeq=last_seq, reconnectAttempts=1)) as ws:
        status = (await ws_messages(ws, 1))[0]
        assert status["resumed"] is True and status["sessionId"] == session and status["reconnectAttempts"] == 1
        replayed = await ws_messages(ws, status["replayed"])
    assert [(m["service"], m["data"]["version"]) for m in replayed][-2:] in (
        [("r2", 1), ("r1", 2)], [("r1", 2), ("r2", 1)])
    assert all(m["seq"] > last_seq for m in replayed)
    # An unknown session gets a fresh snapshot instead
    async with open_ws(http, ws_url(gateway, sessionId="nope", lastSeq=1)) as ws:
        status = (await ws_messages(ws, 1))[0]
        assert status["resumed"] is False and status["snapshotSize"] == 2 and status["sessionId"] != "nope"


def _raw_ws_client(host: str, port: int) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads: the slowest possible client."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    sock.sendall((f"GET /api/admin/ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                  f"Sec-WebSocket-Protocol: fusebox.v1, bearer.{TOKEN}\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    return sock


async def test_a_slow_client_is_dropped_and_the_others_keep_up(stack, topics, database_url, kafka_topics, http):
    settings = gateway_settings(stack, topics, database_url, ws_client_max_pending_bytes=1024 * 1024)
    async with running_gateway(settings) as gateway:
        hub = gateway.app[keys.HUB]
        dropped = gateway.metrics.ws_dropped_clients.labels(reason="slow")
        slow = _raw_ws_client(gateway.server.host, gateway.server.port)
        try:
            async with open_ws(http, ws_url(gateway)) as fast:
                await ws_messages(fast, 1)
                await wait_for(lambda: len(hub.clients) == 2, what="both clients")
                # Megabyte after megabyte of changes: the fast client reads them all, the slow one reads nothing
                padding = "x" * 4000
                for chunk in range(25):
                    states = [service_state(f"bulk-{chunk}-{i}", padding=padding) for i in range(250)]
                    await kafka_topics.publish_states(states)
                    received = await ws_messages(fast, 250, timeout_s=20)
                    assert {m["service"] for m in received} == {s["service"] for s in states}
                    if dropped._value.get() == 1:
                        break
                # Then the slow client was dropped, and the fast one never was
                assert dropped._value.get() == 1
                assert len(hub.clients) == 1 and not fast.closed
        finally:
            slow.close()


async def _read_until_closed(ws: aiohttp.ClientWebSocketResponse) -> list[dict]:
    messages = []
    async for message in ws:
        if message.type == aiohttp.WSMsgType.TEXT:
            messages.append(codec.loads(message.data))
    return messages


async def test_graceful_shutdown_says_disconnected_before_closing(api_settings, http):
    async with running_gateway(api_settings) as gateway:
        ws = await open_ws(http, ws_url(gateway))
        await ws_messages(ws, 1)
        reader = asyncio.create_task(_read_until_closed(ws))
    # The gateway has shut down: the client got the goodbye, then a going-away close
    messages = await asyncio.wait_for(reader, 10)
    goodbye = [m for m in messages if m["type"] != "ping"][-1]
    assert goodbye["type"] == "connection:status" and goodbye["status"] == "disconnected"
    assert ws.close_code == CLOSE_GOING_AWAY
