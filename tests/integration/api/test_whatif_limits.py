"""A what-if takes a token of the admin's config-change bucket, as a config change does."""
from __future__ import annotations

import aiohttp

from tests.integration.api.support import BASE, admin_token, bearer, gateway_settings, running_gateway, \
    service_state, wait_for


async def test_a_whatif_takes_a_config_change_token_and_is_refused_when_the_bucket_is_empty(
        stack, topics, database_url, kafka_topics) -> None:
    # Given a known service and an admin with one token left after a config change's worth
    await kafka_topics.publish_state(service_state("limited-api"))
    settings = gateway_settings(stack, topics, database_url, rate_limit_burst=1, rate_limit_per_minute=1)
    async with running_gateway(settings) as gateway, aiohttp.ClientSession() as http:
        await wait_for(lambda: "limited-api" in gateway.view, what="the service in the view")
        url = f"{gateway.url}{BASE}/limited-api/whatif"
        body = {"config": {"failureThreshold": 2}, "since": "2025-11-26T21:00:00Z", "until": "2025-11-26T22:00:00Z"}
        token = bearer(admin_token("rationed"))
        # When it asks for two what-ifs
        async with http.post(url, json=body, headers=token) as first:
            answer = await first.json()
            assert first.status == 200, answer
        async with http.post(url, json=body, headers=token) as second:
            # Then the second is refused as a config change would be
            assert second.status == 429 and second.headers["Retry-After"]
            assert (await second.json())["error"]["code"] == "RATE_LIMITED"
    # and the first answered over an empty log: both sides closed throughout
    assert answer["eventsFolded"] == 0 and answer["oldestAvailable"] is None
    assert answer["candidate"]["config"]["failureThreshold"] == 2
    assert answer["actual"]["timeline"] == answer["candidate"]["timeline"] == [
        {"from": "2025-11-26T21:00:00.000Z", "to": "2025-11-26T22:00:00.000Z", "circuit": "closed"}]
