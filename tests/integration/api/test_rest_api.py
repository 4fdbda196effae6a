"""The REST endpoints' success paths against the real Kafka and PostgreSQL, with a stand-in aggregator."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg

from fusebox.core import codec
from tests.integration.api.support import (BASE, FakeAggregator, admin_token, bearer, new_service_name,
                                           running_gateway, service_state, wait_for)

AUTH = bearer(admin_token("alice"))


async def test_status_lists_every_consumed_service_state_in_name_order(kafka_topics, api_settings, http):
    # Given two services already on breaker-states before the gateway starts
    await kafka_topics.publish_state(service_state("zeta", operations={"total": 3, "successful": 3}))
    await kafka_topics.publish_state(service_state("alpha"))
    async with running_gateway(api_settings) as gateway:
        # When an admin asks for the status
        async with http.get(f"{gateway.url}{BASE}/status", headers=AUTH) as response:
            body = await response.json()
        # Then both states come back exactly as consumed, ordered by name
        assert response.status == 200
        assert [s["service"] for s in body] == ["alpha", "zeta"]
        assert body[1]["operations"]["total"] == 3
        assert "successRate" in body[0]["operations"] and "lastOperation" in body[0]["operations"]


async def test_one_service_state_follows_new_records_and_tombstones(kafka_topics, gateway, http):
    service = new_service_name()
    await kafka_topics.publish_state(service_state(service, version=1))
    await wait_for(lambda: service in gateway.view, what="the first state")
    await kafka_topics.publish_state(service_state(service, version=2, status="failed", circuit={"state": "open"}))
    await wait_for(lambda: gateway.view.get(service)["version"] == 2, what="the second state")

    async with http.get(f"{gateway.url}{BASE}/{service}", headers=AUTH) as response:
        assert response.status == 200
        body = await response.json()
    assert body["status"] == "failed" and body["circuit"]["state"] == "open"

    await kafka_topics.remove_service(service)
    await wait_for(lambda: service not in gateway.view, what="the tombstone")
    async with http.get(f"{gateway.url}{BASE}/{service}", headers=AUTH) as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "UNKNOWN_SERVICE"


async def test_config_update_is_answered_with_the_aggregators_result(kafka_topics, gateway, http, database_url):
    service = new_service_name()
    async with FakeAggregator(kafka_topics) as aggregator:
        # When an admin changes the config of a service never seen before (it pre-configures it)
        body = {"failureThreshold": 7, "resetTimeoutMs": 1500, "minHealthyPeriodMs": 0, "requestLimit": 2}
        async with http.put(f"{gateway.url}{BASE}/{service}/config", json=body, headers=AUTH) as response:
            answer = await response.json()
            request_id = response.headers["X-Request-Id"]
        # Then the answer carries the applied config and the command went out as the contract says
        assert response.status == 200, answer
        assert answer["success"] is True and answer["service"] == service
        assert answer["config"] == body
        assert answer["appliedAt"].endswith("Z")
        command = aggregator.commands[-1]
        assert command["type"] == "config.update" and command["issuedBy"] == "alice"
        assert command["payload"] == body
        # And the new state reaches the view
        await wait_for(lambda: (gateway.view.get(service) or {}).get("config", {}).get("failureThreshold") == 7,
                       what="the updated state")
    # And the change is audited as applied
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT admin_id, action, service_name, outcome, command_id::text, request"
                           " FROM admin_audit_log WHERE request_id = %s", (request_id,)).fetchone()
    assert row[:4] == ("alice", "config.update", service, "applied")
    assert row[4] == command["commandId"] and row[5] == body


async def test_reset_answers_the_true_previous_state_and_is_audited(kafka_topics, gateway, http, database_url):
    service = new_service_name()
    async with FakeAggregator(kafka_topics) as aggregator:
        await aggregator.seed(service_state(service, status="failed", circuit={
            "state": "open", "failureCount": 6, "lastFailure": "2026-01-01T00:00:00.000Z", "totalIncidents": 4}))
        await wait_for(lambda: service in gateway.view, what="the seeded state")
        request = {"reason": "dependency fixed", "force": True,
                   "metadata": {"triggeredBy": "alice", "environment": "prod", "notes": "after deploy"}}
        async with http.post(f"{gateway.url}{BASE}/{service}/reset", json=request, headers=AUTH) as response:
            answer = await response.json()
            request_id = response.headers["X-Request-Id"]
    assert response.status == 200, answer
    assert answer["success"] is True and answer["service"] == service and answer["resetTime"].endswith("Z")
    assert answer["previousState"] == {"failureCount": 6, "lastFailure": "2026-01-01T00:00:00.000Z",
                                       "totalIncidents": 4}
    command = aggregator.commands[-1]
    assert command["type"] == "breaker.reset"
    assert command["payload"] == {**request, "requestId": request_id}
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT outcome, reason, metadata FROM admin_audit_log WHERE request_id = %s",
                           (request_id,)).fetchone()
    assert row == ("applied", "dependency fixed", request["metadata"])


async def test_a_command_without_a_timely_result_is_answered_202_with_its_command_id(kafka_topics, stack, topics,
                                                                                     database_url, http):
    from tests.integration.api.support import gateway_settings

    settings = gateway_settings(stack, topics, database_url, command_timeout_ms=300)
    async with running_gateway(settings) as gateway, FakeAggregator(kafka_topics, answer=False) as aggregator:
        body = {"failureThreshold": 3, "resetTimeoutMs": 1000, "minHealthyPeriodMs": 10}
        async with http.put(f"{gateway.url}{BASE}/late/config", json=body, headers=AUTH) as response:
            answer = await response.json()
        assert response.status == 202
        assert answer["accepted"] is True and answer["service"] == "late"
        await wait_for(lambda: any(c["commandId"] == answer["commandId"] for c in aggregator.commands),
                       what="the durable command")


async def test_history_comes_back_in_time_order_within_the_window(kafka_topics, gateway, http, database_url):
    service = new_service_name()
    await kafka_topics.publish_state(service_state(service))
    await wait_for(lambda: service in gateway.view, what="the state")
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    rows = [(3, now - timedelta(minutes=10), "healthy", 600_000, 0), (1, now - timedelta(hours=2), "failed", 5000, 1),
            (2, now - timedelta(hours=1), "degraded", 60_000, 0), (0, now - timedelta(days=8), "healthy", 1, 0)]
    with psycopg.connect(database_url) as conn:
        for seq, ts, status, duration, incidents in rows:
            conn.execute("INSERT INTO circuit_breaker_history (service_name, timestamp, status, metrics, seq,"
                         " duration_ms, incidents) VALUES (%s, %s, %s, '{}', %s, %s, %s)",
                         (service, ts, status, seq, duration, incidents))
    async with http.get(f"{gateway.url}{BASE}/{service}/history", headers=AUTH) as response:
        entries = await response.json()
    assert response.status == 200
    assert [e["status"] for e in entries] == ["failed", "degraded", "healthy"]
    assert entries[0] == {"timestamp": (now - timedelta(hours=2)).isoformat(timespec="milliseconds") + "Z",
                          "status": "failed", "duration": 5000, "incidents": 1}

    since = (now - timedelta(minutes=90)).isoformat() + "Z"
    async with http.get(f"{gateway.url}{BASE}/{service}/history", params={"since": since, "limit": "1"},
                        headers=AUTH) as response:
        assert [e["status"] for e in await response.json()] == ["degraded"]


async def test_metrics_answer_from_the_injected_reader_and_are_cached(kafka_topics, api_settings, http):
    class CountingReader:
        calls = 0

        async def read(self, service, timeframe):
            CountingReader.calls += 1
            return {"requestCount": 10, "successCount": 9, "failureCount": 1, "avgResponseTime": 12.5,
                    "p95ResponseTime": 40.0, "p99ResponseTime": 80.0}

    service = new_service_name()
    await kafka_topics.publish_state(service_state(service))
    async with running_gateway(api_settings, metrics_reader=CountingReader()) as gateway:
        await wait_for(lambda: service in gateway.view, what="the state")
        for _ in range(3):
            async with http.get(f"{gateway.url}{BASE}/{service}/metrics", params={"timeframe": "24h"},
                                headers=AUTH) as response:
                body = await response.json()
        assert response.status == 200
        assert body == {"timeframe": "24h", "data": {"requestCount": 10, "successCount": 9, "failureCount": 1,
                                                     "avgResponseTime": 12.5, "p95ResponseTime": 40.0,
                                                     "p99ResponseTime": 80.0}}
        assert CountingReader.calls == 1


async def test_metrics_of_a_known_service_without_calls_in_the_window_are_zeros(kafka_topics, gateway, http):
    # (the metric-rollups work wired the real reader: an empty window is zero calls, not an error)
    service = new_service_name()
    await kafka_topics.publish_state(service_state(service))
    await wait_for(lambda: service in gateway.view, what="the state")
    async with http.get(f"{gateway.url}{BASE}/{service}/metrics", headers=AUTH) as response:
        body = await response.json()
    assert response.status == 200
    assert body == {"timeframe": "1h", "data": {"requestCount": 0, "successCount": 0, "failureCount": 0,
                                                "avgResponseTime": 0.0, "p95ResponseTime": 0.0,
                                                "p99ResponseTime": 0.0}}


async def test_probes_openapi_and_prometheus_metrics(gateway, http):
    async with http.get(f"{gateway.url}/healthz") as response:
        assert response.status == 200
    async with http.get(f"{gateway.url}/readyz") as response:
        assert response.status == 200
        assert (await response.json())["checks"] == {"stateView": True, "commandResults": True, "postgres": True}
    async with http.get(f"{gateway.url}/api/admin/openapi.json", headers=AUTH) as response:
        document = codec.loads(await response.read())
        assert document["openapi"].startswith("3.1")
    async with http.get(f"{gateway.url}/metrics") as response:
        text = await response.text()
    for name in ("fusebox_api_ws_connections", "fusebox_api_ws_messages_pushed_total",
                 "fusebox_api_ws_dropped_clients_total", "fusebox_api_config_changes_total",
                 "fusebox_api_resets_total", "fusebox_api_rejected_requests_total",
                 "fusebox_api_request_duration_seconds"):
        assert name in text, name
