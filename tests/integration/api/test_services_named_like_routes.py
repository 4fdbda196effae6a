"""Services whose names are also fleet routes (`status`, `metrics`) are reached at `…/{service}/state`."""
from __future__ import annotations

from tests.integration.api.support import BASE, admin_token, bearer, service_state, wait_for

AUTH = bearer(admin_token("alice"))
ROUTE_NAMES = ["status", "metrics", "openapi.json", "ws", "state", "history", "config"]


async def test_every_service_state_is_at_its_state_route_even_when_its_name_is_a_route(kafka_topics, gateway, http):
    # Given services named like the gateway's own routes
    for name in ROUTE_NAMES:
        await kafka_topics.publish_state(service_state(name, status="degraded"))
    await wait_for(lambda: all(name in gateway.view for name in ROUTE_NAMES), what="the states")

    for name in ROUTE_NAMES:
        # When each is read at …/{service}/state, Then it is that service's ServiceState
        async with http.get(f"{gateway.url}{BASE}/{name}/state", headers=AUTH) as response:
            body = await response.json()
        assert response.status == 200, (name, body)
        assert body["service"] == name and body["status"] == "degraded"
        # And its history and metrics are its own
        async with http.get(f"{gateway.url}{BASE}/{name}/history", headers=AUTH) as response:
            assert response.status == 200, name
            assert isinstance(await response.json(), list)

    # And the fleet routes still answer as the fleet
    async with http.get(f"{gateway.url}{BASE}/status", headers=AUTH) as response:
        fleet = await response.json()
    assert response.status == 200 and isinstance(fleet, list) and {s["service"] for s in fleet} >= set(ROUTE_NAMES)
    async with http.get(f"{gateway.url}{BASE}/metrics?timeframe=1h", headers=AUTH) as response:
        assert response.status == 200 and "services" in await response.json()
    # And names that are not routes read the same at both addresses
    async with http.get(f"{gateway.url}{BASE}/ws", headers=AUTH) as plain, \
            http.get(f"{gateway.url}{BASE}/ws/state", headers=AUTH) as aliased:
        assert await plain.json() == await aliased.json()
