"""Every refused config change or reset gets its stable code, an audit row with a bounded excerpt, and a token."""
from __future__ import annotations

import psycopg

from tests.integration.api.support import (BASE, admin_token, bearer, gateway_settings, new_service_name,
                                           running_gateway)

EXCERPT_BYTES = 2048
CONFIG = {"failureThreshold": 5, "resetTimeoutMs": 1000, "minHealthyPeriodMs": 0}


def nested(depth: int) -> bytes:
    """A JSON document `depth` arrays deep, inside a reason field."""
    return b'{"reason": ' + b"[" * depth + b"]" * depth + b"}"


def audit_rows(database_url: str, request_id: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT admin_id, action, service_name, outcome, error_code, request, detail"
                            " FROM admin_audit_log WHERE request_id = %s", (request_id,)).fetchall()


async def send(http, gateway, method: str, path: str, data: bytes, sub: str) -> tuple[int, dict, str]:
    headers = {**bearer(admin_token(sub)), "Content-Type": "application/json"}
    async with http.request(method, f"{gateway.url}{BASE}/{path}", data=data, headers=headers) as response:
        return response.status, await response.json(), response.headers["X-Request-Id"]


def refused_once(database_url: str, request_id: str, sub: str, action: str, service: str, code: str) -> dict:
    """The one audit row of a refused attempt; returns its stored request excerpt."""
    rows = audit_rows(database_url, request_id)
    assert len(rows) == 1, rows
    admin_id, stored_action, stored_service, outcome, error_code, request, detail = rows[0]
    assert (admin_id, stored_action, stored_service, outcome, error_code) == (sub, action, service, "refused", code)
    assert detail["message"]
    return request


async def test_a_nul_character_in_a_reset_body_is_a_400_naming_the_field_and_is_audited(gateway, http, database_url):
    for body, field in [
        (b'{"reason": "dependency\\u0000fixed"}', "reason"),
        (b'{"reason": "ok", "metadata": {"triggeredBy": "a", "environment": "prod", "notes": "x\\u0000"}}',
         "metadata.notes"),
        (b'{"reason": "ok", "\\u0000": 1}', "\\u0000"),
    ]:
        service = new_service_name()
        status, answer, request_id = await send(http, gateway, "POST", f"{service}/reset", body, "nul-reset")
        assert (status, answer["error"]["code"]) == (400, "VALIDATION_FAILED"), answer
        assert field in [d["field"] for d in answer["error"]["details"]]
        request = refused_once(database_url, request_id, "nul-reset", "breaker.reset", service, "VALIDATION_FAILED")
        assert "\x00" not in str(request) and request["excerpt"]


async def test_a_nul_character_anywhere_in_a_config_body_is_a_400_and_is_audited(gateway, http, database_url):
    service = new_service_name()
    body = b'{"failureThreshold": 5, "resetTimeoutMs": 1000, "minHealthyPeriodMs": 0, "note": ["a\\u0000"]}'
    status, answer, request_id = await send(http, gateway, "PUT", f"{service}/config", body, "nul-config")
    assert (status, answer["error"]["code"]) == (400, "VALIDATION_FAILED"), answer
    assert "note[0]" in [d["field"] for d in answer["error"]["details"]]
    refused_once(database_url, request_id, "nul-config", "config.update", service, "VALIDATION_FAILED")


ACTIONS = [("POST", "reset", "breaker.reset"), ("PUT", "config", "config.update")]


async def test_json_nested_too_deep_is_malformed_and_is_audited(gateway, http, database_url):
    for depth in (33, 255, 1024, 1100):  # orjson reads 1024 levels and writes 254
        for method, resource, action in ACTIONS:
            service = new_service_name()
            status, answer, request_id = await send(http, gateway, method, f"{service}/{resource}", nested(depth),
                                                    "deep")
            assert (status, answer["error"]["code"]) == (400, "MALFORMED_JSON"), (depth, answer)
            request = refused_once(database_url, request_id, "deep", action, service, "MALFORMED_JSON")
            assert request["excerpt"].startswith('{"reason": [[[')


async def test_an_invalid_service_name_is_refused_and_audited(gateway, http, database_url):
    for name, stored in [("bad%20name", "bad name"), ("nul%00name", "nul\ufffdname"), ("x" * 300, "x" * 255)]:
        for method, resource, action in ACTIONS:
            status, answer, request_id = await send(http, gateway, method, f"{name}/{resource}", b'{"reason": "x"}',
                                                    "bad-name")
            assert (status, answer["error"]["code"]) == (400, "VALIDATION_FAILED"), answer
            refused_once(database_url, request_id, "bad-name", action, stored, "VALIDATION_FAILED")


async def test_a_body_over_64_kib_is_a_413_audited_with_a_bounded_excerpt(gateway, http, database_url):
    for method, resource, action in ACTIONS:
        service = new_service_name()
        body = b'{"reason": "' + "é".encode() * 40_000 + b'"}'
        status, answer, request_id = await send(http, gateway, method, f"{service}/{resource}", body, "big")
        assert (status, answer["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE"), answer
        request = refused_once(database_url, request_id, "big", action, service, "PAYLOAD_TOO_LARGE")
        assert request["truncated"] is True and request["bytes"] > 64 * 1024
        assert len(request["excerpt"].encode()) <= EXCERPT_BYTES and request["excerpt"].startswith('{"reason": "éé')


async def test_malformed_json_is_audited_with_its_excerpt(gateway, http, database_url):
    service = new_service_name()
    status, answer, request_id = await send(http, gateway, "PUT", f"{service}/config", b"{not json \xff", "broken")
    assert (status, answer["error"]["code"]) == (400, "MALFORMED_JSON")
    request = refused_once(database_url, request_id, "broken", "config.update", service, "MALFORMED_JSON")
    assert request["excerpt"] == "{not json \ufffd" and request["truncated"] is False


async def test_refused_attempts_take_tokens_from_the_admins_bucket(stack, topics, database_url, http):
    # Given a bucket of three attempts per admin
    settings = gateway_settings(stack, topics, database_url, rate_limit_burst=3, rate_limit_per_minute=1,
                                command_timeout_ms=100)
    async with running_gateway(settings) as gateway:
        # When an admin keeps sending refused attempts, of both kinds
        answers = [await send(http, gateway, method, f"svc/{resource}", b"{not json", "prober")
                   for method, resource in [("PUT", "config"), ("POST", "reset"), ("PUT", "config"),
                                            ("POST", "reset"), ("PUT", "config")]]
        # Then the fourth and later are answered 429 with Retry-After, each audited as such
        assert [(s, a["error"]["code"]) for s, a, _ in answers] == [(400, "MALFORMED_JSON")] * 3 + [
            (429, "RATE_LIMITED")] * 2
        for _status, _answer, request_id in answers[3:]:
            assert audit_rows(database_url, request_id)[0][3:5] == ("refused", "RATE_LIMITED")
        # And the admin's valid config changes wait too, while another admin's do not
        status, answer, _ = await send(http, gateway, "PUT", "svc/config", b'{"failureThreshold": 5, '
                                       b'"resetTimeoutMs": 1000, "minHealthyPeriodMs": 0}', "prober")
        assert (status, answer["error"]["code"]) == (429, "RATE_LIMITED")
        status, _answer, _ = await send(http, gateway, "PUT", "svc/config", b'{"failureThreshold": 5, '
                                        b'"resetTimeoutMs": 1000, "minHealthyPeriodMs": 0}', "someone-else")
        assert status == 202


async def test_a_postgresql_data_error_is_a_400_never_a_500(stack, topics, database_url, http, kafka_topics):
    from tests.integration.api.support import service_state, wait_for

    class RefusingReader:
        async def read(self, service: str, timeframe: str) -> dict:
            raise psycopg.errors.DatetimeFieldOverflow("date/time field value out of range")

        async def read_fleet(self, timeframe: str, states) -> dict:
            raise psycopg.errors.NumericValueOutOfRange("value out of range")

    service = new_service_name()
    async with running_gateway(gateway_settings(stack, topics, database_url), metrics_reader=RefusingReader()) as gw:
        await kafka_topics.publish_state(service_state(service))
        await wait_for(lambda: service in gw.view, what="the state")
        for path in (f"{service}/metrics?timeframe=1h", "metrics?timeframe=1h"):
            async with http.get(f"{gw.url}{BASE}/{path}", headers=bearer(admin_token())) as response:
                answer = await response.json()
            assert (response.status, answer["error"]["code"]) == (400, "VALIDATION_FAILED"), answer
