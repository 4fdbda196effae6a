"""Every error code with its exact status and envelope; every endpoint and the WebSocket refuse bad tokens."""
from __future__ import annotations

import aiohttp
import jwt
import psycopg
import pytest

from fusebox.api.ws import CLOSE_POLICY_VIOLATION
from fusebox.core import codec
from tests.integration.api.support import (BASE, SECRET, admin_token, bearer, gateway_settings, new_service_name,
                                           running_gateway, service_state, wait_for, ws_protocols)

AUTH = bearer(admin_token("alice"))
ENDPOINTS = [("GET", f"{BASE}/status"), ("GET", f"{BASE}/svc"), ("PUT", f"{BASE}/svc/config"),
             ("POST", f"{BASE}/svc/reset"), ("GET", f"{BASE}/svc/history"), ("GET", f"{BASE}/svc/metrics"),
             ("GET", "/api/admin/openapi.json")]
BAD_TOKENS = {
    "missing": None,
    "malformed": "not-a-jwt",
    "expired": admin_token(ttl_s=-60),
    "wrongly signed": admin_token(secret="another-secret-0123456789abcdef0123456789"),
    "without exp": jwt.encode({"sub": "alice", "roles": ["admin"]}, SECRET, algorithm="HS256"),
}


def assert_envelope(body: dict, code: str) -> None:
    error = body["error"]
    assert set(error) == {"code", "message", "details", "requestId"}
    assert error["code"] == code and error["message"] and error["requestId"]


@pytest.mark.parametrize("method,path", ENDPOINTS)
async def test_every_endpoint_refuses_bad_tokens_with_401_and_non_admins_with_403(gateway, http, method, path):
    for name, token in BAD_TOKENS.items():
        headers = bearer(token) if token else {}
        async with http.request(method, gateway.url + path, headers=headers, json={}) as response:
            assert response.status == 401, name
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert_envelope(await response.json(), "UNAUTHORIZED")
    async with http.request(method, gateway.url + path, headers=bearer(admin_token(roles=["viewer"])),
                            json={}) as response:
        assert response.status == 403
        assert_envelope(await response.json(), "FORBIDDEN")


async def test_the_websocket_refuses_bad_tokens_and_non_admins_with_policy_violation(gateway, http):
    for name, token in {**BAD_TOKENS, "non-admin": admin_token(roles=["viewer"])}.items():
        async with http.ws_connect(gateway.ws_url, protocols=ws_protocols(token)) as ws:
            # The browser needs its offered protocol selected to see the refusal at all
            assert ws.protocol == "fusebox.v1", name
            message = await ws.receive(timeout=5)
            assert message.type == aiohttp.WSMsgType.TEXT, name
            expected = "FORBIDDEN" if name == "non-admin" else "UNAUTHORIZED"
            assert_envelope(codec.loads(message.data), expected)
            assert (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.CLOSE
            assert ws.close_code == CLOSE_POLICY_VIOLATION, name


async def test_body_errors_have_codes_statuses_and_field_details(gateway, http, database_url):
    url = f"{gateway.url}{BASE}/svc-a/config"
    async with http.put(url, data=b"{not json", headers=AUTH) as response:
        assert response.status == 400
        assert_envelope(await response.json(), "MALFORMED_JSON")
    cases = [
        ({"failureThreshold": "5", "resetTimeoutMs": 1000, "minHealthyPeriodMs": 0}, "failureThreshold"),
        ({"failureThreshold": 5.0, "resetTimeoutMs": 1000, "minHealthyPeriodMs": 0}, "failureThreshold"),
        ({"failureThreshold": 5, "resetTimeoutMs": 99, "minHealthyPeriodMs": 0}, "resetTimeoutMs"),
        ({"failureThreshold": 5, "resetTimeoutMs": 1000, "minHealthyPeriodMs": 0, "color": "red"}, "color"),
        ({"failureThreshold": 5, "resetTimeoutMs": 1000}, "minHealthyPeriodMs"),
        ({"failureThreshold": 5, "resetTimeoutMs": 1000, "minHealthyPeriodMs": 0, "requestLimit": 0}, "requestLimit"),
    ]
    for body, field in cases:
        async with http.put(url, json=body, headers=AUTH) as response:
            assert response.status == 400, body
            answer = await response.json()
            assert_envelope(answer, "VALIDATION_FAILED")
            assert field in [d["field"] for d in answer["error"]["details"]], answer
    async with http.put(url, data=b'{"a":"' + b"x" * 70_000 + b'"}', headers=AUTH) as response:
        assert response.status == 413
        assert_envelope(await response.json(), "PAYLOAD_TOO_LARGE")
    # failed attempts are audited too
    with psycopg.connect(database_url) as conn:
        outcomes = conn.execute("SELECT outcome, error_code FROM admin_audit_log WHERE service_name = 'svc-a'"
                                " ORDER BY id").fetchall()
    assert outcomes[0] == ("refused", "MALFORMED_JSON")
    assert [o for o in outcomes[1:-1]] == [("refused", "VALIDATION_FAILED")] * len(cases)
    assert outcomes[-1] == ("refused", "PAYLOAD_TOO_LARGE")


async def test_reset_validation_and_unknown_service(gateway, http, database_url):
    async with http.post(f"{gateway.url}{BASE}/nobody/reset", json={"reason": "x"}, headers=AUTH) as response:
        assert response.status == 404
        assert_envelope(await response.json(), "UNKNOWN_SERVICE")
    async with http.post(f"{gateway.url}{BASE}/nobody/reset", json={"reason": ""}, headers=AUTH) as response:
        assert response.status == 400
        assert_envelope(await response.json(), "VALIDATION_FAILED")
    async with http.post(f"{gateway.url}{BASE}/nobody/reset", json={"reason": "x", "metadata": {"triggeredBy": "a"}},
                         headers=AUTH) as response:
        body = await response.json()
        assert response.status == 400 and "metadata.environment" in [d["field"] for d in body["error"]["details"]]
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT outcome, error_code, reason FROM admin_audit_log WHERE service_name = 'nobody'"
                           " ORDER BY id LIMIT 1").fetchone()
    assert row == ("refused", "UNKNOWN_SERVICE", "x")


async def test_query_errors_unknown_service_routes_and_methods(kafka_topics, gateway, http):
    service = new_service_name()
    await kafka_topics.publish_state(service_state(service))
    await wait_for(lambda: service in gateway.view, what="the state")
    for path, code, status in [
        (f"{BASE}/{service}/metrics?timeframe=2h", "VALIDATION_FAILED", 400),
        (f"{BASE}/{service}/history?limit=0", "VALIDATION_FAILED", 400),
        (f"{BASE}/{service}/history?since=yesterday", "VALIDATION_FAILED", 400),
        (f"{BASE}/{service}/history?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "VALIDATION_FAILED", 400),
        (f"{BASE}/bad%20name", "VALIDATION_FAILED", 400),
        (f"{BASE}/missing-service", "UNKNOWN_SERVICE", 404),
        (f"{BASE}/missing-service/history", "UNKNOWN_SERVICE", 404),
        (f"{BASE}/missing-service/metrics?timeframe=7d", "UNKNOWN_SERVICE", 404),
        ("/api/admin/nothing-here", "NOT_FOUND", 404),
    ]:
        async with http.get(gateway.url + path, headers=AUTH) as response:
            assert response.status == status, path
            assert_envelope(await response.json(), code)
    async with http.delete(f"{gateway.url}{BASE}/status", headers=AUTH) as response:
        assert response.status == 405
        assert_envelope(await response.json(), "METHOD_NOT_ALLOWED")


async def test_an_unexpected_failure_is_a_logged_500_without_a_stack_trace(gateway, http, caplog):
    from fusebox.api import keys

    class Exploding:
        async def update_config(self, *args):
            raise RuntimeError("secret internals")

    gateway.app[keys.ACTIONS] = Exploding()  # type: ignore[assignment]
    async with http.put(f"{gateway.url}{BASE}/x/config", json={}, headers=AUTH) as response:
        body = await response.json()
    assert response.status == 500
    assert_envelope(body, "INTERNAL")
    assert "secret internals" not in body["error"]["message"]
    assert body["error"]["requestId"] in caplog.text


async def test_config_changes_are_rate_limited_per_admin_across_two_gateways_sharing_redis(stack, topics,
                                                                                          database_url, http):
    settings = gateway_settings(stack, topics, database_url, rate_limit_burst=3, rate_limit_per_minute=1,
                                command_timeout_ms=100)
    body = {"failureThreshold": 5, "resetTimeoutMs": 1000, "minHealthyPeriodMs": 0}
    async with running_gateway(settings) as first, running_gateway(settings) as second:
        statuses = []
        for gateway in (first, second, first, second):
            async with http.put(f"{gateway.url}{BASE}/svc/config", json=body, headers=AUTH) as response:
                statuses.append(response.status)
                last = response
                answer = await response.json()
        assert statuses == [202, 202, 202, 429]
        assert_envelope(answer, "RATE_LIMITED")
        assert int(last.headers["Retry-After"]) >= 1
        # another admin has a bucket of its own
        async with http.put(f"{second.url}{BASE}/svc/config", json=body,
                            headers=bearer(admin_token("bob"))) as response:
            assert response.status == 202
