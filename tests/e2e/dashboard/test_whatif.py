"""The shadow card and the what-if panel of a service's page, against the real aggregator and `fusebox api`."""
from __future__ import annotations

import re
import time
import uuid

import pytest
from playwright.async_api import expect

from tests.e2e.dashboard.support import BASE, SCREENSHOTS, token
from tests.e2e.dashboard.test_service_detail import rest
from tests.integration.aggregator.support import outcome
from tests.integration.api.support import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def service(dashboard_stack):
    """A closed breaker with a threshold of ten and a few successes behind it."""
    name = f"billing-{uuid.uuid4().hex[:6]}"
    url = dashboard_stack.api.url
    status, answer = await rest(f"{url}{BASE}/{name}/config", "PUT",
                                {"failureThreshold": 10, "resetTimeoutMs": 600_000, "minHealthyPeriodMs": 1000})
    assert status in (200, 202), answer
    now = int(time.time() * 1000)
    async with dashboard_stack.producer() as producer:
        await producer.outcomes([outcome(name, "success", ts=now + i) for i in range(3)])

    async def known() -> bool:
        status, state = await rest(f"{url}{BASE}/{name}")
        return status == 200 and state["operations"]["total"] == 3

    await wait_for(known, timeout_s=60, what="the service in the API's view")
    return name


async def test_a_shadow_config_opens_beside_the_closed_real_breaker_and_a_whatif_shows_both_sides(
        dashboard_stack, service, tab):
    page = tab.page
    await page.goto(f"{dashboard_stack.api.url}/dashboard/services/{service}#token={token('wren')}")
    card = page.locator("section.shadow")
    await expect(card.locator(".shadow-state")).to_have_text("none set", timeout=20_000)
    await expect(card.get_by_role("button", name="Promote…")).to_be_disabled()

    # When the operator sets a shadow config with a threshold of two
    await card.get_by_text("Set a shadow config…").click()
    await expect(card.get_by_label("Failure threshold")).to_have_value("10")
    await card.get_by_label("Failure threshold").fill("2")
    await card.get_by_role("button", name="Set shadow config").click()
    await expect(card.locator(".config-form .form-message")).to_have_text(re.compile(r"^(Shadow set at|Accepted, applying)"))
    await expect(card).to_have_attribute("data-shadow", "closed", timeout=20_000)

    # And three calls fail: the shadow breaker opens, the real one (threshold ten) stays closed
    now = int(time.time() * 1000)
    async with dashboard_stack.producer() as producer:
        await producer.outcomes([outcome(service, "failure", ts=now + i) for i in range(3)])
    await expect(card).to_have_attribute("data-shadow", "open", timeout=30_000)
    await expect(card.locator(".shadow-state")).to_have_text("○ open")
    await expect(card.locator(".shadow-real")).to_have_text("● closed")
    await expect(card.locator("dd", has_text=re.compile(r"^closed → open \(.+\) at "))).to_be_visible()
    await expect(card.get_by_role("button", name="Promote…")).to_be_enabled()

    # When a what-if with an invalid candidate runs, the refusal lands beside the field
    panel = page.locator("section.whatif")
    await panel.get_by_text("Candidate config…").click()
    await expect(panel.get_by_label("Failure threshold")).to_have_value("10")
    await panel.get_by_label("Failure threshold").fill("0")
    await panel.get_by_role("button", name="Run what-if").click()
    await expect(panel.locator(".config-form .form-message")).to_have_text("Fix the marked fields.")
    await expect(panel.get_by_label("Failure threshold")).to_have_attribute("aria-invalid", "true")
    await expect(panel.locator('.field-error[data-field="failureThreshold"]')).not_to_have_text("")

    # When it runs with a threshold of two over the last hour
    await panel.get_by_label("Failure threshold").fill("2")
    await panel.get_by_label("Range").select_option("1h")
    await panel.get_by_role("button", name="Run what-if").click()
    result = panel.locator(".whatif-result")
    await expect(result).to_have_attribute("data-ran", "yes", timeout=30_000)
    # Then the actual side never opened; the candidate opened on the second failure and rejected the third
    figure = lambda key, side: result.locator(f'tr[data-figure="{key}"] td[data-side="{side}"]')  # noqa: E731
    await expect(figure("incidents", "actual")).to_have_text("0")
    await expect(figure("incidents", "candidate")).to_have_text("1")
    await expect(figure("rejectedCalls", "actual")).to_have_text("0")
    await expect(figure("rejectedCalls", "candidate")).to_have_text("1")
    await expect(figure("transitions", "actual")).to_have_text("0")
    await expect(figure("transitions", "candidate")).to_have_text("1")
    await expect(figure("incidents", "candidate")).to_have_class("differs")
    # And both timelines are drawn, one above the other: the candidate's ends open
    await expect(result.locator('.whatif-side[data-side="actual"] .timeline-segment')).to_have_count(1)
    await expect(result.locator('.whatif-side[data-side="actual"] .timeline-segment')).to_have_attribute("data-circuit", "closed")
    candidate = result.locator('.whatif-side[data-side="candidate"] .timeline-segment')
    await expect(candidate).to_have_count(2)
    await expect(candidate.last).to_have_attribute("data-circuit", "open")
    marks = result.locator('.whatif-side[data-side="candidate"] .timeline-transition')
    await expect(marks).to_have_count(1)
    await expect(marks).to_have_attribute("aria-label", re.compile(r"^closed → open \(.+\) at "))
    await expect(result.locator('.whatif-side[data-side="actual"] .timeline-transition')).to_have_count(0)
    actual_box = await result.locator('.whatif-side[data-side="actual"]').bounding_box()
    candidate_box = await result.locator('.whatif-side[data-side="candidate"]').bounding_box()
    assert actual_box and candidate_box and candidate_box["y"] >= actual_box["y"] + actual_box["height"]
    # And the what-if changed nothing live
    status, state = await rest(f"{dashboard_stack.api.url}{BASE}/{service}")
    assert status == 200 and state["circuit"]["state"] == "closed" and state["config"]["failureThreshold"] == 10
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "service-whatif.png"), full_page=True)
    await page.evaluate("window.scrollTo(0, 0)")
    await card.screenshot(path=str(SCREENSHOTS / "shadow-card.png"))
    await panel.screenshot(path=str(SCREENSHOTS / "whatif-panel.png"))

    # When the operator clears the shadow, after confirming, the card says none is set
    await card.get_by_role("button", name="Clear shadow…").click()
    dialog = page.get_by_role("dialog", name=re.compile("Clear the shadow config"))
    await dialog.get_by_role("button", name="Clear shadow").click()
    await expect(dialog.locator(".form-message")).to_have_text(re.compile(r"^(Cleared at|Accepted, applying)"))
    await dialog.get_by_role("button", name="Close").click()
    await expect(card).to_have_attribute("data-shadow", "none", timeout=20_000)
    # The only console errors are the browser's note of the refused what-if's 400
    assert all("status of 400" in e for e in tab.console_errors), tab.console_errors
