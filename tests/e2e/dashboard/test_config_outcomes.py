"""What the dashboard says when the API cannot confirm or cannot take a change, and where there is nothing to show.

The module's `fusebox api` waits 1 ms for the aggregator's result, so every accepted command answers 202 before
the aggregator confirms it. PostgreSQL is made unavailable to this module alone by refusing connections to its
own database (the session's server and the other modules' databases keep running).
"""
from __future__ import annotations

import re
import time
import uuid
from contextlib import asynccontextmanager

import psycopg
import pytest
from playwright.async_api import expect
from psycopg.conninfo import conninfo_to_dict

from tests.e2e.dashboard.support import BASE, token
from tests.integration.aggregator.support import outcome
from tests.integration.api.support import wait_for
from tests.e2e.dashboard.test_service_detail import rest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api_env() -> dict[str, str]:
    return {"FUSEBOX_API_COMMAND_TIMEOUT_MS": "1", "FUSEBOX_API_BREAKER_RESET_TIMEOUT_MS": "3000"}


async def signed_in(tab, api_url: str, path: str = "/dashboard/"):
    page = tab.page
    await page.goto(f"{api_url}{path}#token={token('quinn')}")
    await expect(page.locator(".link")).to_have_attribute("data-phase", "connected", timeout=20_000)
    return page


async def test_an_empty_fleet_says_that_services_appear_when_they_report(dashboard_stack, tab):
    # Given an API whose breaker-states topic holds nothing yet
    page = await signed_in(tab, dashboard_stack.api.url)
    # Then the fleet says so, rather than waiting forever
    await expect(page.locator(".empty")).to_have_text(
        "No breakers yet — services appear here when they report outcomes.", timeout=20_000)
    await expect(page.locator(".tile")).to_have_count(0)
    assert tab.console_errors == []


@pytest.fixture(scope="module")
async def service(dashboard_stack):
    name = f"ledger-{uuid.uuid4().hex[:6]}"
    async with dashboard_stack.producer() as producer:
        await producer.outcomes([outcome(name, "success", ts=int(time.time() * 1000) + i) for i in range(3)])

    async def known() -> bool:
        status, _ = await rest(f"{dashboard_stack.api.url}{BASE}/{name}")
        return status == 200

    await wait_for(known, timeout_s=60, what="the service in the API's view")
    return name


async def test_an_unknown_service_page_says_no_such_service_and_links_back(dashboard_stack, service, tab):
    page = await signed_in(tab, dashboard_stack.api.url, "/dashboard/services/no-such-service")
    notice = page.get_by_role("heading", name="No such service")
    await expect(notice).to_be_visible(timeout=20_000)
    await expect(page.locator(".missing")).to_contain_text("no-such-service")
    await expect(page.locator(".detail")).to_be_hidden()
    # The link leads back to the fleet, where the known service is
    await page.get_by_role("link", name="← Back to the fleet").click()
    await expect(page.locator(f'.tile[data-service="{service}"]')).to_be_visible()
    assert page.url.endswith("/dashboard/")
    assert tab.console_errors == []


async def test_a_change_the_aggregator_has_not_confirmed_yet_shows_accepted_applying(dashboard_stack, service, tab):
    page = await signed_in(tab, dashboard_stack.api.url, f"/dashboard/services/{service}")
    threshold = page.get_by_label("Failure threshold")
    await expect(threshold).not_to_have_value("", timeout=20_000)
    # When the operator applies a change that the API hands on without waiting for its result (202)
    await threshold.fill("9")
    await page.get_by_role("button", name="Apply config").click()
    # Then the form says it is accepted and being applied, not that it is applied
    message = page.locator(".config-form .form-message")
    await expect(message).to_have_text(re.compile(r"^Accepted, applying"))
    await expect(message).to_have_class(re.compile(r"\bpending\b"))
    # And the live state shows it once the aggregator has applied it
    await expect(page.locator("dd", has_text=re.compile(r"^\d+ of 9$"))).to_be_visible(timeout=20_000)
    row = page.locator(".audit tbody tr[data-action]").first
    await expect(row.locator(".outcome")).to_have_text("accepted", timeout=15_000)
    assert tab.console_errors == []


@asynccontextmanager
async def postgres_refusing(admin_url: str, database_url: str):
    """The module's own database refuses connections and drops the ones it has, until the block ends."""
    database = conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> "
                      "pg_backend_pid()", (database,))
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')


async def test_a_change_while_postgresql_is_unavailable_shows_dependency_unavailable_with_retry_after(
        dashboard_stack, service, tab):
    page = await signed_in(tab, dashboard_stack.api.url, f"/dashboard/services/{service}")
    threshold = page.get_by_label("Failure threshold")
    await expect(threshold).not_to_have_value("", timeout=20_000)
    message = page.locator(".config-form .form-message")
    async with postgres_refusing(dashboard_stack.stack.database_url, dashboard_stack.database_url):
        # When the operator applies a change the API cannot write to its audit log
        await threshold.fill("6")
        await page.get_by_role("button", name="Apply config").click()
        # Then the form says which dependency is unavailable and when to retry, and keeps the typed value
        await expect(message).to_have_text(
            re.compile(r"A dependency of the API is unavailable \(.+\)\. Retry in \d+ s\."), timeout=20_000)
        await expect(message).to_have_class(re.compile(r"\berror\b"))
        await expect(threshold).to_have_value("6")
        await expect(page.get_by_role("button", name="Apply config")).to_be_enabled()
    # And once PostgreSQL is back the same change goes through (the API's own breaker lets a trial through)
    deadline = time.monotonic() + 60
    while True:
        await page.get_by_role("button", name="Apply config").click()
        try:
            await expect(message).to_have_text(re.compile(r"^Accepted, applying"), timeout=5_000)
            break
        except AssertionError:
            assert time.monotonic() < deadline, await message.text_content()
    assert all("status of 503" in e for e in tab.console_errors), tab.console_errors
