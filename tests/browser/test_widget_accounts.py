"""A visitor who signs in keeps this browser's conversations, and a signed-in user picks the
model and options the operator allows, in Chromium through the real stack."""

from __future__ import annotations

import subprocess
import sys

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import start_server
from tests.browser.widget import ask, open_chat, wait_connected, wait_reply
from tests.live import ROOT, server_env

pytestmark = pytest.mark.slow
PASSWORD = "a-long-test-password"  # noqa: S105 - a throwaway account on a test server


@pytest.fixture(scope="module")
def server(tmp_path_factory, browser):
    env = {"CHAT_VISITOR_MODELS": "scripted,scripted-large", "CHAT_VISITOR_OPTIONS": "temperature"}
    server = start_server(tmp_path_factory.mktemp("accounts"), **env)
    subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", "ann",
         "--email", "ann@example.com"],
        cwd=ROOT, env={**server_env(db_path=server.db_path), "DJANGO_SUPERUSER_PASSWORD": PASSWORD},
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    yield server
    server.stop()


def sign_in(page) -> None:
    page.goto("/admin/login/?next=/")
    page.fill("#id_username", "ann")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/")


def test_signing_in_keeps_the_anonymous_conversation_and_offers_the_model(page):
    page.goto("/")
    open_chat(page)
    ask(page, "say: asked before signing in")
    wait_reply(page)
    expect(page.locator(".cc-gear")).to_be_visible()
    page.click(".cc-gear")
    expect(page.locator(".cc-model")).to_have_count(0)  # anonymous: no model choice

    sign_in(page)
    wait_connected(page)

    expect(page.locator(".cc-log .cc-msg")).to_have_count(2)  # the same conversation, now hers
    page.click(".cc-list-btn")
    expect(page.locator(".cc-conv-title")).to_have_text(["say: asked before signing in"])
    page.click(".cc-gear")
    model = page.locator(".cc-model")
    model.get_by_label("Model").select_option("scripted-large")
    expect(model.locator(".cc-field-error")).to_have_text("Saved.")
    model.get_by_label("temperature").fill("7")
    model.get_by_label("temperature").dispatch_event("change")
    expect(model.locator(".cc-field-error")).to_have_text(
        "temperature must be between 0.0 and 2.0."
    )
    session = page.evaluate("localStorage.getItem('concierge:session')")
    stored = page.request.get(f"/api/chat/sessions/{session}/").json()
    assert stored["model"] == "scripted-large"
    assert "temperature" not in stored["generation_options"]


def test_another_browser_without_the_account_sees_none_of_it(browser, server):
    context = browser.new_context(base_url=server.url)
    page = context.new_page()
    try:
        page.goto("/")
        assert page.request.get("/api/chat/sessions/").json()["sessions"] == []
    finally:
        context.close()
