"""A service's transitions on its page in Chromium, against the real aggregator and `fusebox api`: marked on the
timeline and the charts, a failed period linked to why it opened, and the trip rules in the config form."""
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

RULES = {"failureThreshold": 1000, "resetTimeoutMs": 600_000, "minHealthyPeriodMs": 1000,
         "failureRateThreshold": 50, "slidingWindowType": "count", "slidingWindowSize": 10,
         "minimumNumberOfCalls": 10}


@pytest.fixture(scope="module")
async def service(dashboard_stack):
    """A service that opened on its failure rate and was then reset by force: one ended failed period."""
    name = f"ledger-{uuid.uuid4().hex[:6]}"
    stack = dashboard_stack
    status, answer = await rest(f"{stack.api.url}{BASE}/{name}/config", "PUT", RULES)
    assert status in (200, 202), answer
    now = int(time.time() * 1000) - 120_000
    events = [outcome(name, "success", ts=now + i * 1000) for i in range(5)]
    events += [{**outcome(name, "failure", ts=now + 10_000 + i * 1000), "error": "ReadTimeout",
                "instance": f"pod-{i % 2}"} for i in range(5)]
    async with stack.producer() as producer:
        await producer.outcomes(events)

    async def state_is(circuit: str) -> bool:
        status, state = await rest(f"{stack.api.url}{BASE}/{name}")
        return status == 200 and state["circuit"]["state"] == circuit

    await wait_for(lambda: state_is("open"), timeout_s=60, what="the breaker to open")
    status, answer = await rest(f"{stack.api.url}{BASE}/{name}/reset", "POST",
                                {"reason": "provider back", "force": True,
                                 "metadata": {"triggeredBy": "setup", "environment": "test"}})
    assert status in (200, 202), answer
    await wait_for(lambda: state_is("closed"), timeout_s=60, what="the reset")

    async def failed_period_stored() -> bool:
        status, history = await rest(f"{stack.api.url}{BASE}/{name}/history")
        return status == 200 and any(e["status"] == "failed" for e in history)

    await wait_for(failed_period_stored, timeout_s=60, what="the failed period in PostgreSQL")
    return {"name": name, "stack": stack}


async def open_page(tab, service):
    page = tab.page
    await page.goto(f"{service['stack'].api.url}/dashboard/services/{service['name']}#token={token('dana')}")
    await expect(page.get_by_role("heading", name=service["name"])).to_be_visible()
    return page


async def test_transitions_are_marked_and_a_failed_period_links_to_why_it_opened(service, tab):
    page = await open_page(tab, service)
    status, transitions = await rest(f"{service['stack'].api.url}{BASE}/{service['name']}/transitions")
    assert [(t["to"], t["cause"]["rule"]) for t in transitions] == [("open", "failure-rate"),
                                                                   ("closed", "forced-reset")]
    # The card shows the last transition: a reset, whose rule is shown once, with what happened in words
    card = page.locator("section.why")
    await expect(card.get_by_role("heading", name="Why it is closed")).to_be_visible()
    await expect(card.locator(".why-rule")).to_have_text("forced-reset")
    await expect(card.locator(".why-summary")).to_have_text("an operator forced a reset")
    await expect(card.locator(".why-summary")).not_to_have_text("forced-reset")

    # Both transitions are marked on the timeline, coloured by the state they went to, naming the rule
    timeline = page.locator(".timeline")
    await expect(timeline).to_have_attribute("data-transitions", "2", timeout=15_000)
    await page.get_by_role("tablist", name="Timeline range").get_by_role("tab", name="1h").click()
    opened = timeline.locator(".timeline-transition.to-open")
    await expect(opened).to_have_attribute("title", re.compile(r"^closed → open \(failure-rate\) at "))
    await expect(timeline.locator(".timeline-transition.to-closed")).to_have_attribute(
        "title", re.compile(r"^open → closed \(forced-reset\)"))
    # And on the charts
    charts = page.locator(".charts")
    await expect(charts).to_have_attribute("data-transitions", "2", timeout=15_000)
    await expect(charts.locator(".chart-marks li")).to_have_text([re.compile("closed → open: failure-rate$"),
                                                                  re.compile("open → closed: forced-reset$")])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.locator(".timeline").screenshot(path=str(SCREENSHOTS / "timeline-transitions.png"))
    await page.locator(".charts").screenshot(path=str(SCREENSHOTS / "chart-transitions.png"))

    # When the operator picks the failed period, the card shows the transition that began it
    failed = timeline.locator("button.timeline-segment.status-failed")
    await expect(failed).to_have_attribute("data-transition-seq", str(transitions[0]["seq"]))
    # (a period of seconds is a sliver of the hour beneath its markers: chosen from the keyboard)
    await failed.focus()
    await page.keyboard.press("Enter")
    await expect(card.get_by_role("heading", name="Why it opened")).to_be_visible()
    await expect(card.locator(".why-rule")).to_have_text("failure-rate")
    await expect(card.locator(".why-summary")).to_have_text(
        "failure rate 50% ≥ 50%: 5 of 10 calls in a count window of 10")
    await expect(card.locator(".why-errors")).to_have_text("ReadTimeout")
    await card.screenshot(path=str(SCREENSHOTS / "why-from-history.png"))
    assert tab.console_errors == []


async def test_the_config_form_edits_the_trip_rules_and_shows_each_refusal_beside_its_field(service, tab):
    page = await open_page(tab, service)
    form = page.locator(".config-form")
    # The live trip rules are in the form
    await expect(page.get_by_label("Failure rate (%)")).to_have_value("50")
    await expect(page.get_by_label("Window type")).to_have_value("count")
    await expect(page.get_by_label("Minimum calls")).to_have_value("10")
    # When the operator turns on the slow-call rule over a time window
    await page.get_by_label("Window type").select_option("time")
    await page.get_by_label("Window size").fill("60")
    await page.get_by_label("Slow-call rate (%)").fill("40")
    await page.get_by_label("Slow call above (ms)").fill("800")
    await page.get_by_role("button", name="Apply config").click()
    await expect(form.locator(".form-message")).to_contain_text(re.compile("Applied at|Accepted, applying"))

    async def applied() -> bool:
        status, state = await rest(f"{service['stack'].api.url}{BASE}/{service['name']}")
        c = state["config"]
        return (c.get("slidingWindowType"), c.get("slidingWindowSize"), c.get("slowCallRateThreshold"),
                c.get("slowCallDurationMs"), c.get("failureRateThreshold")) == ("time", 60, 40, 800, 50)

    await wait_for(applied, timeout_s=30, what="the trip rules in the live config")

    # When two rules are out of range and the failure rate is turned off
    await page.get_by_label("Failure rate (%)").fill("")
    await page.get_by_label("Slow-call rate (%)").fill("101")
    await page.get_by_label("Window size").fill("5000")
    await page.get_by_role("button", name="Apply config").click()
    # Then each VALIDATION_FAILED detail stands beside its own field, and nothing else is marked
    await expect(form.locator('.field-error[data-field="slowCallRateThreshold"]')).to_contain_text(re.compile(r"\S"))
    await expect(form.locator('.field-error[data-field="slidingWindowSize"]')).to_contain_text(re.compile(r"\S"))
    await expect(page.get_by_label("Window size")).to_have_attribute("aria-invalid", "true")
    await expect(form.locator('.field-error[data-field="failureThreshold"]')).to_be_empty()
    await expect(form.locator(".form-message")).to_have_text("Fix the marked fields.")
    await form.screenshot(path=str(SCREENSHOTS / "config-trip-rules.png"))
    assert all("status of 400" in e for e in tab.console_errors), tab.console_errors
