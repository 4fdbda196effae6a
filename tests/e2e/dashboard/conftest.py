"""One Chromium for the whole session; per module one aggregator, one `fusebox api`, own topics and database."""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from playwright.async_api import Browser, Page, async_playwright

from fusebox.kafka_admin import ensure_topics
from fusebox.storage.schema import schema_for_prefix
from tests.e2e.dashboard.support import CHROMIUM, CHROMIUM_ARGS, ApiProcess
from tests.harness import Stack, drop_database, fresh_database
from tests.integration.aggregator.support import Producer, Worker


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class DashboardStack:
    stack: Stack
    prefix: str
    database_url: str
    worker: Worker
    api: ApiProcess

    def producer(self) -> Producer:
        return Producer(self.stack, self.prefix)


def _module_database(stack: Stack, prefix: str) -> Iterator[str]:
    url = fresh_database(stack.database_url, schema_for_prefix(prefix))
    try:
        yield url
    finally:
        drop_database(stack.database_url, url)


@pytest.fixture(scope="module")
def api_env() -> dict[str, str]:
    """Extra environment of the module's `fusebox api`; a module overrides it to change a knob."""
    return {}


@pytest.fixture(scope="module")
async def dashboard_stack(stack: Stack, tmp_path_factory, api_env) -> AsyncIterator[DashboardStack]:
    prefix = f"d{uuid.uuid4().hex[:10]}."
    await ensure_topics(stack.kafka_bootstrap, prefix)
    workdir: Path = tmp_path_factory.mktemp("dashboard")
    databases = _module_database(stack, prefix)
    database_url = next(databases)
    worker = Worker(stack, prefix, database_url, workdir).start()
    api = ApiProcess(stack, prefix, database_url, workdir, **api_env)
    try:
        api.start()
        yield DashboardStack(stack, prefix, database_url, worker, api)
    finally:
        api.stop()
        worker.stop()
        next(databases, None)


@dataclass
class BrowserPage:
    page: Page
    console_errors: list[str]


@pytest.fixture
async def tab(browser: Browser) -> AsyncIterator[BrowserPage]:
    """A fresh browser context (own sessionStorage) and page; console errors and page errors are collected."""
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    try:
        yield BrowserPage(page, errors)
    finally:
        await context.close()
