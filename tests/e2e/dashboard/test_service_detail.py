"""A service's page in Chromium against the real aggregator and `fusebox api`: config, reset, timeline, charts, audit."""
from __future__ import annotations

import re
import time
import uuid
from datetime import datetime

import aiohttp
import pytest
from playwright.async_api import expect

from tests.e2e.dashboard.support import BASE, SCREENSHOTS, token
from tests.integration.aggregator.support import outcome
from tests.integration.api.support import wait_for

pytestmark = pytest.mark.integration

MINUTE_MS = 60_000
HISTORY_MINUTES = 40


@pytest.fixture(scope="module")
def api_env() -> dict[str, str]:
    # A bucket of ten quick changes that refills slowly, so the eleventh is refused however slow the machine is
    return {"FUSEBOX_API_RATE_LIMIT_BURST": "10", "FUSEBOX_API_RATE_LIMIT_PER_MINUTE": "1"}


async def rest(url: str, method: str = "GET", body: dict | None = None, admin: str = "setup"):
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token(admin)}"}) as http:
        async with http.request(method, url, json=body) as response:
            return response.status, await response.json()


@pytest.fixture(scope="module")
async def service(dashboard_stack):
    """A service with 40 minutes of calls behind it (one minute in four without any), then an opened breaker."""
    name = f"orders-{uuid.uuid4().hex[:6]}"
    stack = dashboard_stack
    status, answer = await rest(f"{stack.api.url}{BASE}/{name}/config", "PUT",
                                {"failureThreshold": 4, "resetTimeoutMs": 600_000, "minHealthyPeriodMs": 1000})
    assert status in (200, 202), answer
    now = int(time.time() * 1000)
    start = (now // MINUTE_MS - HISTORY_MINUTES) * MINUTE_MS
    events = []
    for minute in range(HISTORY_MINUTES):
        if minute % 4 == 3:
            continue
        for i in range(6):
            ts = start + minute * MINUTE_MS + i * 7_000
            events.append(outcome(name, "failure" if i == 5 and minute % 5 == 0 else "success", ts=ts,
                                  latency=20.0 + minute + i * 15))
    # The breaker opens now: four failures in a row
    events += [outcome(name, "failure", ts=now + i, latency=300.0) for i in range(4)]
    async with stack.producer() as producer:
        await producer.outcomes(events)

    async def opened() -> bool:
        status, state = await rest(f"{stack.api.url}{BASE}/{name}")
        return status == 200 and state["circuit"]["state"] == "open"

    await wait_for(opened, timeout_s=60, what="the breaker to open")
    return {"name": name, "requests": len(events), "timestamps": [e["ts"] for e in events], "stack": stack}


async def open_page(tab, service, admin: str = "dana"):
    page = tab.page
    url = service["stack"].api.url
    await page.goto(f"{url}/dashboard/#token={token(admin)}")
    await page.get_by_role("link", name=re.compile(service["name"])).click()
    await expect(page.get_by_role("heading", name=service["name"])).to_be_visible()
    assert page.url.endswith(f"/dashboard/services/{service['name']}")
    return page


async def test_the_why_it_opened_card_names_the_rule_the_errors_and_the_instances(service, tab):
    page = await open_page(tab, service)
    # Given the breaker opened on four failures in a row, Then the card says so from the state's last transition
    card = page.locator("section.why")
    await expect(card.get_by_role("heading", name="Why it opened")).to_be_visible()
    await expect(card.locator(".why-rule")).to_have_text("consecutive-failures")
    await expect(card.locator(".why-summary")).to_have_text("4 consecutive failures (threshold 4)")
    await expect(card.locator(".why-errors")).to_have_text("boom")
    await expect(card.locator(".why-instances")).to_have_text("test-1")
    await expect(card).to_contain_text("closed → open")


async def test_a_config_change_round_trips_and_an_invalid_value_is_shown_beside_its_field(service, tab):
    page = await open_page(tab, service)
    # Given the live config in the form
    await expect(page.get_by_label("Failure threshold")).to_have_value("4")
    # When the operator sets a new threshold
    await page.get_by_label("Failure threshold").fill("7")
    await page.get_by_label("Min. healthy period (ms)").fill("1500")
    await page.get_by_role("button", name="Apply config").click()
    # Then the API's answer is shown and the live state carries it
    await expect(page.locator(".config-form .form-message")).to_contain_text(re.compile("Applied at|Accepted, applying"))
    await expect(page.locator("dd", has_text=re.compile(r"^\d+ of 7$"))).to_be_visible(timeout=15_000)
    status, state = await rest(f"{service['stack'].api.url}{BASE}/{service['name']}")
    assert state["config"]["failureThreshold"] == 7 and state["config"]["minHealthyPeriodMs"] == 1500

    # The trip rules are folded away while the service has none
    await expect(page.locator(".config-form details.trip-rules")).not_to_have_attribute("open", "")
    # When a value out of range is sent
    await page.get_by_label("Failure threshold").fill("0")
    await page.get_by_role("button", name="Apply config").click()
    # Then the field-level detail of VALIDATION_FAILED stands beside that field
    error = page.locator('.field-error[data-field="failureThreshold"]')
    await expect(error).to_contain_text(re.compile(r"\S"))
    await expect(page.get_by_label("Failure threshold")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator('.field-error[data-field="resetTimeoutMs"]')).to_be_empty()
    # The refused request is the only thing the browser logged
    assert all("status of 400" in e for e in tab.console_errors), tab.console_errors


async def test_the_eleventh_quick_config_change_shows_the_rate_limit(service, tab):
    admin = f"eager-{uuid.uuid4().hex[:4]}"
    page = await open_page(tab, service, admin=admin)
    await expect(page.get_by_label("Failure threshold")).not_to_have_value("")
    message = page.locator(".config-form .form-message")
    apply = page.get_by_role("button", name="Apply config")
    for change in range(1, 11):
        await page.get_by_label("Failure threshold").fill(str(10 + change))
        await apply.click()
        await expect(message).to_contain_text(re.compile("Applied at|Accepted, applying"), timeout=15_000)
        await expect(apply).to_be_enabled()
    # When the eleventh change follows at once
    await page.get_by_label("Failure threshold").fill("30")
    await apply.click()
    # Then the rate limit is shown with its Retry-After, and the button waits for it
    await expect(message).to_contain_text(re.compile(r"Rate limited.*Try again in \d+ s"))
    await expect(apply).to_be_disabled()
    assert all("status of 429" in e for e in tab.console_errors), tab.console_errors


async def test_a_reset_shows_the_previous_state_and_the_audit_trail_lists_it(service, tab):
    page = await open_page(tab, service)
    status, before = await rest(f"{service['stack'].api.url}{BASE}/{service['name']}")
    await page.get_by_role("button", name="Reset breaker…").click()
    dialog = page.get_by_role("dialog")
    # The reason and the environment are required; triggeredBy comes from the token, the environment is not guessed
    await expect(dialog.get_by_label("Triggered by")).to_have_value("dana")
    await expect(dialog.get_by_label("Environment (required)")).to_have_value("")
    await dialog.get_by_role("button", name="Reset").click()
    await expect(dialog.locator("#reset-reason-error")).to_have_text("a reason is required")
    await expect(dialog.locator("#reset-env-error")).to_have_text("the environment is required")
    await expect(dialog.get_by_label("Environment (required)")).to_have_attribute("aria-invalid", "true")
    # When the operator gives them and forces the reset
    await dialog.get_by_label("Reason (required)").fill("payment provider fixed")
    await dialog.get_by_label("Environment (required)").fill("staging-eu")
    await dialog.get_by_label("Notes").fill("ticket OPS-42")
    await dialog.get_by_label("Force, even if not open").check()
    await dialog.get_by_role("button", name="Reset").click()
    # Then the dialog shows the state the aggregator reported before the reset
    previous = before["circuit"]
    await expect(dialog.locator('[data-previous="failureCount"]')).to_have_text(str(previous["failureCount"]),
                                                                                timeout=15_000)
    await expect(dialog.locator('[data-previous="totalIncidents"]')).to_have_text(str(previous["totalIncidents"]))
    await dialog.get_by_role("button", name="Close").click()
    await expect(page.locator(".detail")).to_have_attribute("data-state", "closed", timeout=15_000)
    # The next reset in this browser starts from the environment named last
    await page.get_by_role("button", name="Reset breaker…").click()
    await expect(dialog.get_by_label("Environment (required)")).to_have_value("staging-eu")
    await expect(dialog.get_by_label("Reason (required)")).to_be_focused()
    await dialog.get_by_role("button", name="Close").click()
    # And the audit trail lists the reset with who, why and its outcome
    row = page.locator(".audit tbody tr[data-action]", has_text="payment provider fixed")
    await expect(row).to_be_visible(timeout=15_000)
    await expect(row).to_contain_text("dana")
    await expect(row.locator(".outcome")).to_have_text("applied")
    assert tab.console_errors == []


async def test_the_timeline_and_the_charts_show_the_real_history_and_rollups(service, tab):
    stack = service["stack"]

    series: dict = {}

    async def rollups_complete() -> bool:
        status, answer = await rest(f"{stack.api.url}{BASE}/{service['name']}/metrics/series?timeframe=1h")
        series.update(answer if status == 200 else {})
        return status == 200 and sum(b["requestCount"] for b in answer["buckets"]) == service["requests"]

    await wait_for(rollups_complete, timeout_s=90, interval_s=1, what="every call in the rollups")
    starts = [int(datetime.fromisoformat(b["start"].replace("Z", "+00:00")).timestamp() * 1000) for b in series["buckets"]]
    buckets_with_calls = {max(i for i, start in enumerate(starts) if start <= ts) for ts in service["timestamps"]}
    page = await open_page(tab, service)

    # The timeline holds the periods of /history, the failed one among them, with its incident marked
    timeline = page.locator(".timeline")
    await expect(timeline.locator(".timeline-segment.status-failed").first).to_be_visible(timeout=15_000)
    status, history = await rest(f"{stack.api.url}{BASE}/{service['name']}/history")
    assert int(await timeline.get_attribute("data-periods")) >= len(history) >= 1
    assert int(await timeline.get_attribute("data-incidents")) >= 1
    # Zoomed to the last hour, the minutes-long periods of this test are wide enough to see
    await page.get_by_role("tablist", name="Timeline range").get_by_role("tab", name="1h").click()
    await expect(timeline).to_have_attribute("data-range", "1h")
    failed = timeline.locator(".timeline-segment.status-failed").first
    assert (await failed.bounding_box())["width"] >= 2

    # The charts are drawn from the series: one point per bucket, calls where calls were made
    charts = page.locator(".charts")
    await expect(charts).to_have_attribute("data-timeframe", "1h", timeout=15_000)
    await expect(charts.locator("canvas")).to_have_count(2)
    assert int(await charts.get_attribute("data-points")) == len(series["buckets"])
    assert int(await charts.get_attribute("data-points-with-calls")) == len(buckets_with_calls)
    assert int(await charts.get_attribute("data-requests")) == service["requests"]
    await expect(charts.locator(".u-legend").first).to_contain_text("requests")

    # When the operator picks 24 h, the same calls are drawn in that timeframe's buckets
    timeframes = page.get_by_role("tablist", name="Timeframe")
    await timeframes.get_by_role("tab", name="24h").click()
    await expect(charts).to_have_attribute("data-timeframe", "24h")
    assert int(await charts.get_attribute("data-requests")) == service["requests"]
    await timeframes.get_by_role("tab", name="1h").click()
    await expect(charts).to_have_attribute("data-timeframe", "1h")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "service-detail.png"), full_page=True)
    assert tab.console_errors == []
