"""`GET /{service}/audit`: a service's config changes and resets from the audit log, newest first."""
from __future__ import annotations

from datetime import datetime, timezone

from tests.integration.api.support import (BASE, FakeAggregator, admin_token, bearer, new_service_name,
                                           service_state, wait_for)

AUTH = bearer(admin_token("alice"))


async def test_the_trail_lists_real_changes_and_resets_newest_first(kafka_topics, gateway, http):
    service, other = new_service_name(), new_service_name()
    config = {"failureThreshold": 4, "resetTimeoutMs": 2000, "minHealthyPeriodMs": 0}
    reset = {"reason": "dependency fixed", "force": True,
             "metadata": {"triggeredBy": "alice", "environment": "prod", "notes": "after deploy"}}
    async with FakeAggregator(kafka_topics) as aggregator:
        await aggregator.seed(service_state(service, status="failed", circuit={"state": "open", "failureCount": 5}))
        await aggregator.seed(service_state(other))
        await wait_for(lambda: service in gateway.view and other in gateway.view, what="the seeded states")
        started = datetime.now(timezone.utc)
        # Given a config change, a reset, and a refused config change through the gateway, and a change of another
        async with http.put(f"{gateway.url}{BASE}/{service}/config", json=config, headers=AUTH) as response:
            assert response.status == 200
        async with http.post(f"{gateway.url}{BASE}/{service}/reset", json=reset,
                             headers=bearer(admin_token("bob"))) as response:
            assert response.status == 200
        async with http.put(f"{gateway.url}{BASE}/{service}/config", json={**config, "failureThreshold": 0},
                            headers=AUTH) as response:
            assert response.status == 400
        async with http.put(f"{gateway.url}{BASE}/{other}/config", json=config, headers=AUTH) as response:
            assert response.status == 200
        commands = {c["type"]: c["commandId"] for c in aggregator.commands if c["service"] == service}
    # When the dashboard asks for the service's trail
    async with http.get(f"{gateway.url}{BASE}/{service}/audit", headers=AUTH) as response:
        assert response.status == 200
        trail = await response.json()
    # Then it holds exactly this service's three attempts, newest first, with who, what, why and how it ended
    assert [(e["action"], e["outcome"], e["adminId"]) for e in trail] == [
        ("config", "refused", "alice"), ("reset", "applied", "bob"), ("config", "applied", "alice")]
    refused, applied_reset, applied_config = trail
    assert refused["errorCode"] == "VALIDATION_FAILED" and refused["commandId"] is None
    assert refused["request"] == {**config, "failureThreshold": 0}
    assert applied_reset["reason"] == "dependency fixed" and applied_reset["metadata"] == reset["metadata"]
    assert applied_reset["commandId"] == commands["breaker.reset"] and applied_reset["request"] == reset
    assert applied_reset["errorCode"] is None
    assert applied_config["commandId"] == commands["config.update"] and applied_config["request"] == config
    assert applied_config["reason"] is None and applied_config["metadata"] is None
    assert trail[0]["id"] > trail[1]["id"] > trail[2]["id"]
    for entry in trail:
        assert set(entry) == {"id", "at", "adminId", "action", "outcome", "reason", "errorCode", "commandId",
                              "request", "metadata", "detail"}
        assert entry["at"].endswith("Z") and datetime.fromisoformat(entry["at"].replace("Z", "+00:00")) >= started
    # limit keeps the newest; since/until bound by time
    async with http.get(f"{gateway.url}{BASE}/{service}/audit", params={"limit": "2"}, headers=AUTH) as response:
        assert [e["id"] for e in await response.json()] == [trail[0]["id"], trail[1]["id"]]
    async with http.get(f"{gateway.url}{BASE}/{service}/audit", params={"since": trail[1]["at"]},
                        headers=AUTH) as response:
        assert [e["id"] for e in await response.json()] == [trail[0]["id"], trail[1]["id"]]
    async with http.get(f"{gateway.url}{BASE}/{service}/audit", params={"until": trail[2]["at"]},
                        headers=AUTH) as response:
        assert [e["id"] for e in await response.json()] == [trail[2]["id"]]


async def test_the_trail_refuses_bad_parameters_and_unknown_services(kafka_topics, gateway, http):
    quiet = new_service_name()
    await kafka_topics.publish_state(service_state(quiet))
    await wait_for(lambda: quiet in gateway.view, what="the state")
    for params, field in (({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit"), ({"limit": "x"}, "limit"),
                          ({"since": "yesterday"}, "since"),
                          ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since")):
        async with http.get(f"{gateway.url}{BASE}/{quiet}/audit", params=params, headers=AUTH) as response:
            assert response.status == 400, params
            error = (await response.json())["error"]
            assert error["code"] == "VALIDATION_FAILED" and error["details"][0]["field"] == field, params
    async with http.get(f"{gateway.url}{BASE}/{quiet}/audit", params={"limit": "1000"}, headers=AUTH) as response:
        assert response.status == 200 and await response.json() == []
    # A service nobody knows is 404 …
    async with http.get(f"{gateway.url}{BASE}/never-seen/audit", headers=AUTH) as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "UNKNOWN_SERVICE"
    # … unless someone tried to act on it: the refused attempt is in its trail
    ghost = new_service_name()
    async with http.post(f"{gateway.url}{BASE}/{ghost}/reset", json={"reason": "just in case"},
                         headers=AUTH) as response:
        assert response.status == 404
    async with http.get(f"{gateway.url}{BASE}/{ghost}/audit", headers=AUTH) as response:
        assert response.status == 200
        [entry] = await response.json()
    assert (entry["action"], entry["outcome"], entry["errorCode"]) == ("reset", "refused", "UNKNOWN_SERVICE")
    async with http.get(f"{gateway.url}{BASE}/{ghost}/audit") as response:
        assert response.status == 401
