"""A real daphne server and Debian's chromium, driven by Playwright, for the widget's tests.

Only the model is scripted (tests/scripted_provider.py); everything between the browser and the
database is the real stack. Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.live import LiveServer, migrate_db
from tests.services import missing

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Unique questions keep the response cache out of the way; no rate limit across many tests.
SERVER_ENV = {
    "SCRIPTED_TOKEN_DELAY": "0.04",
    "CHAT_CACHE_TTL": "0",
    "CHAT_RATE_LIMIT": "",
    "CHAT_RATE_LIMIT_IP": "",
    "KNOWLEDGE_DENSE_SEARCH": "false",
}


def start_server(tmp: Path, **env: str) -> LiveServer:
    db_path = tmp / "db.sqlite3"
    full_env = {**SERVER_ENV, **env}
    migrate_db(db_path, env=full_env)
    server = LiveServer(db_path=db_path, env=full_env)
    server.start()
    return server


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module. Not for the session: Playwright's sync API keeps an event
    loop running in this thread while it is open, and the suite's asyncio tests that pytest
    orders after the browser tests could not start theirs."""
    if not Path(CHROMIUM).exists():
        missing(f"chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, browser):
    """One live server per test module (each test gets a fresh visitor through its own context)."""
    server = start_server(tmp_path_factory.mktemp("live"))
    yield server
    server.stop()


@pytest.fixture
def context(browser, server, request):
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 800})
    yield context
    context.close()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(server.log_tail())  # shown with the failure


@pytest.fixture
def page(context):
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: _keep_policy_violation(page, msg))
    yield page
    assert not page.errors, f"JavaScript errors or CSP violations on the page: {page.errors}"


def _keep_policy_violation(page, message) -> None:
    if "Content Security Policy" in message.text:
        page.errors.append(message.text)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
