"""The fleet view in Chromium against the real aggregator and `fusebox api`: sign-in, a breaker's live life, a restart."""
from __future__ import annotations

import asyncio
import json
import re
import time
import uuid

import pytest
from playwright.async_api import expect

from tests.e2e.dashboard.support import SCREENSHOTS, BreakableLink, StateWatcher, token
from tests.integration.aggregator.support import outcome
from tests.integration.api.support import wait_for

pytestmark = pytest.mark.integration

CALM = ["inventory-db", "search-api", "recommendations", "user-profile", "auth-service", "shipping-quotes",
        "email-gateway", "fraud-check", "pricing-engine", "cart-service", "geo-ip"]


async def configure(http_url: str, service: str, config: dict, admin: str = "setup") -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.put(f"{http_url}/api/admin/circuit-breaker/{service}/config", json=config,
                            headers={"Authorization": f"Bearer {token(admin)}"}) as response:
            assert response.status in (200, 202), await response.text()


@pytest.fixture(scope="module")
async def fleet(dashboard_stack):
    """A small fleet: calm services with a little noise, one of them degraded."""
    now = int(time.time() * 1000)
    events = []
    for index, service in enumerate(CALM):
        for i in range(40 + index * 7):
            kind = "failure" if (i % (13 + index) == 5) else "success"
            events.append(outcome(service, kind, ts=now - 60_000 + i * 500, latency=8.0 + index * 3 + (i % 5)))
    events.append(outcome("search-api", "failure", ts=now + 1))
    async with dashboard_stack.producer() as producer:
        await producer.outcomes(events)
    return dashboard_stack


async def signed_in(tab, api_url: str, sub: str = "erin"):
    page = tab.page
    await page.goto(f"{api_url}/dashboard/#token={token(sub)}")
    await expect(page.get_by_role("status").filter(has_text="connected")).to_be_visible(timeout=20_000)
    return page


async def test_a_token_in_the_link_signs_in_and_leaves_the_url(fleet, tab):
    # Given the one-time link `make demo` prints
    page = await signed_in(tab, fleet.api.url)
    # Then the fleet shows every service and the token is gone from the address bar
    await expect(page.locator(".tile")).to_have_count(len(CALM), timeout=20_000)
    assert "token" not in page.url
    assert page.url.endswith("/dashboard/")
    await expect(page.get_by_text("erin · admin")).to_be_visible()
    # The scripts and styles came gzipped: fewer bytes on the wire than the browser decoded
    sizes = await page.evaluate("""() => performance.getEntriesByType("resource")
      .filter((e) => /\\/dashboard\\/.*\\.(js|css)$/.test(e.name))
      .map((e) => ({ name: e.name, encoded: e.encodedBodySize, decoded: e.decodedBodySize }))""")
    assert any(s["name"].endswith("/js/main.js") for s in sizes), sizes
    assert all(s["encoded"] < s["decoded"] for s in sizes if s["decoded"] > 1000), sizes
    assert tab.console_errors == []


async def test_a_pasted_token_signs_in(fleet, tab):
    page = tab.page
    await page.goto(f"{fleet.api.url}/")
    await page.get_by_label("Admin token").fill(token("frank"))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator(".tile").first).to_be_visible(timeout=20_000)
    await expect(page.get_by_text("frank · admin")).to_be_visible()
    assert tab.console_errors == []


async def test_a_bad_or_non_admin_token_is_refused_with_a_message(fleet, tab):
    page = tab.page
    await page.goto(f"{fleet.api.url}/dashboard/")
    # When a token that is not a valid JWT is pasted
    await page.get_by_label("Admin token").fill("not-a-token")
    await page.get_by_role("button", name="Sign in").click()
    # Then the sign-in says why and stays
    await expect(page.get_by_role("alert")).to_contain_text("The token was refused")
    # When a valid token without the admin role is pasted
    await page.get_by_label("Admin token").fill(token("guest", roles=("viewer",)))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("no admin role")
    # And an expired one
    await page.get_by_label("Admin token").fill(token("late", ttl_s=-60))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("the token has expired")
    await expect(page.locator(".tile")).to_have_count(0)
    # The browser logs each refused request (401/403) as a failed resource, nothing else
    assert all("status of 40" in e for e in tab.console_errors), tab.console_errors


async def test_an_opened_breaker_turns_red_within_a_second_counts_down_then_half_opens_and_recovers(fleet, tab):
    service = f"payments-{uuid.uuid4().hex[:6]}"
    await configure(fleet.api.url, service, {"failureThreshold": 3, "resetTimeoutMs": 6000, "minHealthyPeriodMs": 2000})
    page = await signed_in(tab, fleet.api.url)
    tile = page.locator(f'.tile[data-service="{service}"]')
    async with fleet.producer() as producer, StateWatcher(fleet.stack, fleet.prefix) as states:
        await producer.outcomes([outcome(service, "success")])
        await expect(tile).to_have_attribute("data-status", "healthy", timeout=20_000)

        # When three failures in a row reach the aggregator
        now = int(time.time() * 1000)
        await producer.outcomes([outcome(service, "failure", ts=now + i) for i in range(3)])
        opened, reached_topic_ms = await states.first(
            lambda s: s["service"] == service and s["circuit"]["state"] == "open")

        # Then its tile turns red within a second of the state reaching breaker-states
        await expect(tile).to_have_attribute("data-status", "failed", timeout=5_000)
        shown_ms = int(await tile.get_attribute("data-status-changed-at"))
        print(f"\nopen state on breaker-states -> red tile: {shown_ms - reached_topic_ms} ms")
        assert shown_ms - reached_topic_ms <= 1000
        await expect(tile.locator(".failures")).to_have_text("3 of 3")
        await expect(tile.locator(".badge")).to_contain_text("failed")

        # And its countdown to the half-open trial runs
        countdown = tile.locator(".countdown")
        await expect(countdown).to_have_text(re.compile(r"trial in [3-6]s"))
        first = await countdown.text_content()
        await expect(countdown).not_to_have_text(first, timeout=3_000)
        assert int(re.search(r"(\d+)s", await countdown.text_content()).group(1)) < int(re.search(r"(\d+)s", first).group(1))

        # When the reset timeout passes, the breaker half-opens
        await expect(tile).to_have_attribute("data-state", "half-open", timeout=20_000)
        await expect(tile.locator(".circuit")).to_have_text("◐ half-open")
        # And a successful trial call closes it: degraded for the healthy period, then green
        await producer.outcomes([outcome(service, "success")])
        await expect(tile).to_have_attribute("data-state", "closed", timeout=20_000)
        await expect(tile).to_have_attribute("data-status", "healthy", timeout=20_000)
    assert tab.console_errors == []


async def test_a_restart_of_the_api_shows_reconnecting_then_connected_with_the_update_from_the_gap(fleet, tab):
    page = await signed_in(tab, fleet.api.url)
    tile = page.locator('.tile[data-service="geo-ip"]')
    await expect(tile).to_be_visible(timeout=20_000)
    before = await tile.locator(".tile-counts span").first.text_content()
    link = page.locator(".link")

    # When the API stops (SIGTERM: it tells the browser it is going)
    fleet.api.stop()
    await expect(link).to_contain_text(re.compile(r"reconnecting \(attempt [1-5] of 5\)"), timeout=10_000)

    # And calls happen while it is away
    async with fleet.producer() as producer:
        await producer.outcomes([outcome("geo-ip", "success") for _ in range(25)])
    # And the API comes back
    fleet.api.start()

    # Then the browser reconnects by itself and shows what happened during the gap
    await expect(link).to_have_attribute("data-phase", "connected", timeout=40_000)
    await expect(link).to_contain_text("connected")
    expected = int(before.replace(",", "")) + 25
    await expect(tile.locator(".tile-counts span").first).to_have_text(f"{expected:,}", timeout=20_000)
    # Only the refused connection attempts of the outage were logged
    assert all("WebSocket" in e or "ERR_CONNECTION_REFUSED" in e for e in tab.console_errors), tab.console_errors


async def test_a_dropped_socket_resumes_its_session_on_the_same_api_with_the_update_from_the_gap(fleet, tab):
    # Every connection:status the browser receives, in order
    statuses: list[dict] = []

    def on_socket(socket) -> None:
        def on_frame(payload) -> None:
            message = json.loads(payload) if isinstance(payload, str) else {}
            if message.get("type") == "connection:status":
                statuses.append(message.get("data", message))

        socket.on("framereceived", on_frame)

    tab.page.on("websocket", on_socket)
    async with BreakableLink(fleet.api.port) as network:
        page = await signed_in(tab, network.url)
        tile = page.locator('.tile[data-service="inventory-db"]')
        await expect(tile).to_be_visible(timeout=20_000)
        before = int((await tile.locator(".tile-counts span").first.text_content()).replace(",", ""))
        api_pid = fleet.api.process.pid
        link = page.locator(".link")
        first_session = statuses[0]["sessionId"]

        # When the network between the browser and the API fails while the API keeps running
        network.cut()
        await expect(link).to_contain_text(re.compile(r"reconnecting \(attempt [1-5] of 5\)"), timeout=30_000)
        # And calls happen during the gap, reaching the API's view before the browser is back
        async with fleet.producer() as producer:
            await producer.outcomes([outcome("inventory-db", "success") for _ in range(9)])

        async def in_the_view() -> bool:
            status, state = await rest_state(fleet.api.url, "inventory-db")
            return status == 200 and state["operations"]["total"] == before + 9

        await wait_for(in_the_view, timeout_s=30, what="the calls of the gap in the API's view")
        network.mend()

        # Then the browser resumes its session on the same process and shows what happened during the gap
        await expect(link).to_have_attribute("data-phase", "connected", timeout=40_000)
        await expect(tile.locator(".tile-counts span").first).to_have_text(f"{before + 9:,}", timeout=20_000)
    assert fleet.api.process.pid == api_pid and fleet.api.process.poll() is None
    connected = [s for s in statuses if s.get("status") == "connected"]
    assert len(connected) >= 2, statuses
    assert connected[-1]["resumed"] is True and connected[-1]["replayed"] >= 1, connected[-1]
    assert connected[-1]["sessionId"] == first_session
    # Only the refused connection attempts of the gap were logged
    assert all("WebSocket" in e or "ERR_" in e for e in tab.console_errors), tab.console_errors


async def rest_state(api_url: str, service: str) -> tuple[int, dict]:
    import aiohttp

    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token('setup')}"}) as http:
        async with http.get(f"{api_url}/api/admin/circuit-breaker/{service}") as response:
            return response.status, await response.json()


async def test_the_fleet_filter_lives_in_the_url_and_a_screenshot_is_taken(fleet, tab):
    page = await signed_in(tab, fleet.api.url)
    await expect(page.locator(".tile")).not_to_have_count(0, timeout=20_000)
    # Sorted worst first: the degraded search-api leads
    await expect(page.locator(".tile").first).to_have_attribute("data-service", "search-api", timeout=10_000)

    # With live traffic the sparklines fill in (two completed 5 s buckets make the first rate)
    async def traffic() -> None:
        async with fleet.producer() as producer:
            for tick in range(160):
                await producer.outcomes([outcome(service, "success", latency=10.0 + tick % 7)
                                         for service in CALM[:-1] if service != "search-api"
                                         for _ in range(1 + CALM.index(service) % 3)])
                await asyncio.sleep(0.25)

    flowing = asyncio.create_task(traffic())
    try:
        # And one breaker open (with a long reset timeout) and one service degraded by a fresh failure
        await configure(fleet.api.url, "payments-api",
                        {"failureThreshold": 3, "resetTimeoutMs": 120_000, "minHealthyPeriodMs": 5000})
        async with fleet.producer() as producer:
            now = int(time.time() * 1000)
            await producer.outcomes([outcome("payments-api", "success", ts=now - 2000 + i) for i in range(30)] +
                                    [outcome("payments-api", "failure", ts=now + i) for i in range(3)] +
                                    [outcome("search-api", "failure", ts=now)])
        await expect(page.locator(".tile").first).to_have_attribute("data-service", "payments-api", timeout=20_000)
        await expect(page.locator('.tile[data-service="search-api"]')).to_have_attribute("data-status", "degraded")
        await expect(page.locator('.tile[data-service="inventory-db"] .spark polyline')).to_have_attribute(
            "points", re.compile(r"\d \d"), timeout=30_000)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / "fleet.png"))
        await page.screenshot(path=str(SCREENSHOTS / "fleet-readme.png"), clip={"x": 0, "y": 0, "width": 1440,
                                                                                 "height": 470})
        await page.emulate_media(color_scheme="dark")
        await page.screenshot(path=str(SCREENSHOTS / "fleet-dark.png"))
        await page.emulate_media(color_scheme="light")
    finally:
        flowing.cancel()

    # When the operator types a query
    await page.get_by_label("Filter services").fill("name:*-api rate<1 -state:open")
    await expect(page.locator(".tile")).to_have_count(1)
    await expect(page.locator(".tile")).to_have_attribute("data-service", "search-api")
    assert "q=name%3A*-api+rate%3C1+-state%3Aopen" in page.url
    # Then the link reproduces the view
    await page.reload()
    await expect(page.get_by_label("Filter services")).to_have_value("name:*-api rate<1 -state:open")
    await expect(page.locator(".tile")).to_have_count(1, timeout=20_000)
    # And a term it cannot read is named
    await page.get_by_label("Filter services").fill("colour:red")
    await expect(page.locator(".query-errors")).to_contain_text('unknown key "colour"')
    assert tab.console_errors == []


async def test_the_keyboard_reaches_a_service_and_an_expired_session_returns_to_sign_in(fleet, tab):
    # Given a session whose token expires in a few seconds
    lifetime_s = 8
    expires_at = time.time() + lifetime_s
    page = tab.page
    await page.goto(f"{fleet.api.url}/dashboard/#token={token('brief', ttl_s=lifetime_s)}")
    await expect(page.locator('.tile[data-service="geo-ip"]')).to_be_visible(timeout=20_000)

    # When the operator moves with the keyboard to a tile and presses Enter
    await page.get_by_label("Filter services").fill("geo-ip")
    await expect(page.locator(".tile")).to_have_count(1)
    for _ in range(8):  # from the query box past the chips and the sort to the tile
        await page.keyboard.press("Tab")
        if await page.evaluate("() => document.activeElement?.classList.contains('tile')"):
            break
    assert await page.evaluate("() => document.activeElement?.dataset.service") == "geo-ip"
    await page.keyboard.press("Enter")
    # Then the service's page opens
    await expect(page.get_by_role("heading", name="geo-ip")).to_be_visible()

    # When the token has expired and the page asks the API for something
    while time.time() < expires_at + 1:
        await asyncio.sleep(0.2)
    await page.get_by_role("tablist", name="Timeframe").get_by_role("tab", name="24h").click()
    # Then the 401 returns the operator to sign-in, with the reason
    await expect(page.get_by_role("alert")).to_contain_text("the token has expired", timeout=10_000)
    await expect(page.get_by_label("Admin token")).to_be_visible()
    assert await page.evaluate("() => sessionStorage.length") == 0
    assert all("status of 401" in e for e in tab.console_errors), tab.console_errors
