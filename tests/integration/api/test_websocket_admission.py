"""Who may open the admin WebSocket: credentials in the subprotocol (never the URL), Origin, caps, bad messages."""
from __future__ import annotations

import asyncio
import logging
import socket

import aiohttp
import pytest

from fusebox.api import keys
from fusebox.api.ws import CLOSE_POLICY_VIOLATION, CLOSE_TRY_AGAIN_LATER
from fusebox.core import codec
from tests.integration.api.support import (admin_token, bearer, gateway_settings, open_ws, running_gateway, wait_for,
                                           ws_messages, ws_protocols)

TOKEN = admin_token("alice")


async def refusal(ws: aiohttp.ClientWebSocketResponse) -> tuple[dict, int | None]:
    """The one envelope a refused socket gets, and its close code."""
    message = await ws.receive(timeout=5)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    closing = await ws.receive(timeout=5)
    assert closing.type == aiohttp.WSMsgType.CLOSE, closing
    return codec.loads(message.data)["error"], ws.close_code


def handshake(host: str, port: int, extra_headers: str) -> str:
    """The raw HTTP answer to a WebSocket handshake (status line and headers)."""
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall((f"GET /api/admin/ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      f"Sec-WebSocket-Version: 13\r\n{extra_headers}\r\n").encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n\r\n")[0].decode("latin-1")


async def test_the_token_in_the_subprotocol_admits_and_only_fusebox_v1_is_answered(gateway, http):
    async with open_ws(http, gateway.ws_url, TOKEN) as ws:
        assert ws.protocol == "fusebox.v1"
        status = (await ws_messages(ws, 1))[0]
        assert status["type"] == "connection:status" and status["status"] == "connected"
    # Whatever the order offered, the answer names fusebox.v1 alone: the bearer entry is never echoed
    answer = await asyncio.to_thread(handshake, gateway.server.host, gateway.server.port,
                                     f"Sec-WebSocket-Protocol: bearer.{TOKEN}, fusebox.v1\r\n")
    assert answer.startswith("HTTP/1.1 101")
    protocol_lines = [line for line in answer.split("\r\n") if line.lower().startswith("sec-websocket-protocol:")]
    assert protocol_lines == ["Sec-WebSocket-Protocol: fusebox.v1"]
    assert TOKEN not in answer


async def test_non_browser_clients_may_send_the_authorization_header(gateway, http):
    async with http.ws_connect(gateway.ws_url, headers=bearer(TOKEN)) as ws:
        assert (await ws_messages(ws, 1))[0]["status"] == "connected"


async def test_a_token_in_the_url_is_refused_with_a_policy_violation(gateway, http):
    async with http.ws_connect(f"{gateway.ws_url}?access_token={TOKEN}", protocols=ws_protocols(None)) as ws:
        error, code = await refusal(ws)
    assert error["code"] == "UNAUTHORIZED" and "URL" in error["message"]
    assert code == CLOSE_POLICY_VIOLATION


async def test_a_bearer_entry_without_fusebox_v1_is_refused_before_the_upgrade(gateway, http):
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        async with http.ws_connect(gateway.ws_url, protocols=(f"bearer.{TOKEN}",)):
            pass
    assert refused.value.status == 400


async def test_the_access_log_never_holds_a_token(gateway, http, caplog):
    caplog.set_level(logging.INFO, logger="fusebox.api.access")
    # Given a socket opened the browser's way, a REST call with the header, and a token put in the URL
    async with open_ws(http, f"{gateway.ws_url}?reconnectAttempts=0", TOKEN) as ws:
        await ws_messages(ws, 1)
    async with http.get(f"{gateway.url}/api/admin/circuit-breaker/status", headers=bearer(TOKEN)) as response:
        assert response.status == 200
    async with http.ws_connect(f"{gateway.ws_url}?access_token={TOKEN}", protocols=ws_protocols(None)) as ws:
        await refusal(ws)

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "fusebox.api.access"]

    await wait_for(lambda: len([line for line in lines() if "/api/admin/ws" in line]) >= 2,
                   what="access log lines of both sockets")
    # Then every request is in the access log, and the token nowhere
    logged = lines()
    assert any('"GET /api/admin/ws?reconnectAttempts=0" 101' in line for line in logged), logged
    assert any('"GET /api/admin/ws?access_token=REDACTED" 101' in line for line in logged), logged
    assert any('"GET /api/admin/circuit-breaker/status" 200' in line for line in logged), logged
    assert not [line for line in logged if TOKEN in line or TOKEN.split(".")[2] in line]


async def test_a_plain_get_is_401_without_a_token_and_426_with_one(gateway, http):
    async with http.get(gateway.ws_url) as response:
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "UNAUTHORIZED"
    async with http.get(gateway.ws_url, headers=bearer("not-a-jwt")) as response:
        assert response.status == 401
    async with http.get(gateway.ws_url, headers=bearer(admin_token(roles=["viewer"]))) as response:
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "FORBIDDEN"
    async with http.get(gateway.ws_url, headers=bearer(TOKEN)) as response:
        assert response.status == 426
        assert response.headers["Upgrade"] == "websocket"
        assert (await response.json())["error"]["code"] == "UPGRADE_REQUIRED"


async def test_only_the_gateways_own_origin_and_listed_ones_may_connect(stack, topics, database_url, http):
    settings = gateway_settings(stack, topics, database_url, ws_allowed_origins=("https://ops.example.com",))
    async with running_gateway(settings) as gateway:
        own = f"http://{gateway.server.host}:{gateway.server.port}"
        for origin in (own, "https://ops.example.com", "HTTPS://OPS.EXAMPLE.COM:443", None):
            headers = {"Origin": origin} if origin else {}
            async with open_ws(http, gateway.ws_url, TOKEN, headers=headers) as ws:
                assert (await ws_messages(ws, 1))[0]["status"] == "connected", origin
        for origin in ("http://evil.example", "https://ops.example.com:8443", "null", f"http://{gateway.server.host}"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                async with open_ws(http, gateway.ws_url, TOKEN, headers={"Origin": origin}):
                    pass
            assert refused.value.status == 403, origin
        # The refusal is the error envelope, also on a plain request
        async with http.get(gateway.ws_url, headers={"Origin": "http://evil.example", **bearer(TOKEN)}) as response:
            assert response.status == 403
            error = (await response.json())["error"]
            assert error["code"] == "FORBIDDEN" and error["details"][0]["field"] == "Origin"


async def test_connections_are_capped_per_admin_and_in_total(stack, topics, database_url, http):
    settings = gateway_settings(stack, topics, database_url, ws_max_connections_per_admin=2, ws_max_connections=3)
    async with running_gateway(settings) as gateway:
        slots = gateway.app[keys.WS_SLOTS]
        alice = [await open_ws(http, gateway.ws_url, TOKEN) for _ in range(2)]
        for ws in alice:
            await ws_messages(ws, 1)
        # A third socket of the same admin is refused with "try again later"
        async with open_ws(http, gateway.ws_url, TOKEN) as ws:
            error, code = await refusal(ws)
        assert error["code"] == "TOO_MANY_CONNECTIONS" and code == CLOSE_TRY_AGAIN_LATER
        # Another admin still gets in, up to the total
        bob = await open_ws(http, gateway.ws_url, admin_token("bob"))
        await ws_messages(bob, 1)
        async with open_ws(http, gateway.ws_url, admin_token("carol")) as ws:
            error, code = await refusal(ws)
        assert error["code"] == "TOO_MANY_CONNECTIONS" and code == CLOSE_TRY_AGAIN_LATER
        assert gateway.metrics.rejected_requests.labels(code="TOO_MANY_CONNECTIONS")._value.get() == 2
        # A closed socket gives its slot back
        await alice.pop().close()
        await wait_for(lambda: slots.of("alice") == 1, what="alice's slot back")
        async with open_ws(http, gateway.ws_url, TOKEN) as ws:
            assert (await ws_messages(ws, 1))[0]["status"] == "connected"
        for ws in (*alice, bob):
            await ws.close()
        await wait_for(lambda: slots.of("alice") == 0 and slots.of("bob") == 0, what="every slot back")


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


async def test_deeply_nested_or_odd_messages_are_ignored_and_the_socket_lives_on(gateway, http, caplog):
    caplog.set_level(logging.INFO)
    async with open_ws(http, gateway.ws_url, TOKEN) as ws:
        await ws_messages(ws, 1)
        # Nested 255–1024 levels parses but cannot be echoed; deeper does not parse; others are not messages
        for depth in (255, 500, 1024, 2000):
            await ws.send_str(f'{{"type":"ping","timestamp":{nested(depth)}}}')
        for odd in ('{"type":"ping","timestamp":"12"}', '{"type":"ping"}', "[1,2]", "not json", '{"type":"x"}',
                    '{"type":"pong","timestamp":{"a":1}}'):
            await ws.send_str(odd)
        # Then the socket still answers a good ping, and nothing was logged as a failure
        await ws.send_str('{"type":"ping","timestamp":777}')
        assert (await ws_messages(ws, 1))[0] == {"type": "pong", "timestamp": 777}
        assert not ws.closed
    failures = [r for r in caplog.records
                if r.levelno >= logging.WARNING and r.name.startswith(("fusebox.api", "aiohttp"))]
    assert not failures, [r.getMessage() for r in failures]
