"""The widget's conversations and message actions in Chromium, through the real stack (issue 14):
the pane (newest first, pinned on top, search, rename, pin, delete with undo, new), copy,
regenerate, continue after Stop, delete, pin, edit and resend, export, print, per-reply figures,
the rating and escalation replayed after a reload, the empty state."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import start_server
from tests.browser.widget import (
    ask,
    conversation,
    last_reply,
    open_chat,
    wait_connected,
    wait_reply,
)

pytestmark = pytest.mark.slow
SUGGESTED = "say: We open at nine|say: Prices start at ten"


@pytest.fixture(scope="module")
def server(tmp_path_factory, browser):
    server = start_server(
        tmp_path_factory.mktemp("conversations"), CHAT_SUGGESTED_QUESTIONS=SUGGESTED
    )
    yield server
    server.stop()


def session_id(page) -> str:
    return page.evaluate("localStorage.getItem('concierge:session')")


def new_conversation(page, question: str) -> str:
    page.click(".cc-new")
    ask(page, question)
    wait_reply(page)
    return session_id(page)


def poll(page, expression: str, timeout: float = 10.0) -> None:
    """Wait until `expression` is true in the page (wait_for_function would need eval, which the
    page's CSP forbids)."""
    for _ in range(int(timeout * 10)):
        if page.evaluate(expression):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"{expression} never became true")


def titles(page) -> list[str]:
    return page.locator(".cc-conv-title").all_text_contents()


def test_the_pane_lists_pinned_then_newest_and_searches_titles_and_text(page):
    page.goto("/")
    open_chat(page)
    ask(page, "say: alpha answer about parcels")
    wait_reply(page)
    new_conversation(page, "say: beta")
    new_conversation(page, "say: gamma")

    page.click(".cc-list-btn")
    expect(page.locator(".cc-conv")).to_have_count(3)
    assert titles(page) == ["say: gamma", "say: beta", "say: alpha answer about parcels"]
    expect(page.locator(".cc-conv-open[aria-current=true]")).to_contain_text("gamma")

    page.locator(".cc-conv", has_text="alpha").get_by_role("button", name="Pin").click()
    expect(page.locator(".cc-conv-title").first).to_have_text("say: alpha answer about parcels")
    expect(page.locator(".cc-conv").first).to_have_class(re.compile("cc-pinned"))

    page.fill(".cc-search", "PARCELS")
    expect(page.locator(".cc-conv")).to_have_count(1)
    page.fill(".cc-search", "beta")
    expect(page.locator(".cc-conv-title")).to_have_text(["say: beta"])
    page.screenshot(path="/tmp/widget-pane.png")


def test_rename_open_and_delete_with_undo(page, server):
    page.goto("/")
    open_chat(page)
    ask(page, "say: keep me")
    wait_reply(page)
    first = session_id(page)
    new_conversation(page, "say: delete me")
    doomed = session_id(page)

    page.click(".cc-list-btn")
    row = page.locator(".cc-conv", has_text="keep me")
    row.get_by_role("button", name="Rename").click()
    page.fill(".cc-rename", "Renamed by me")
    page.keyboard.press("Enter")
    expect(page.locator(".cc-conv-title", has_text="Renamed by me")).to_have_count(1)

    page.locator(".cc-conv", has_text="delete me").get_by_role(
        "button", name=re.compile("^Delete")
    ).click()
    expect(page.locator(".cc-undo")).to_contain_text("Conversation deleted.")
    expect(page.locator(".cc-conv")).to_have_count(1)
    page.get_by_role("button", name="Undo").click()
    expect(page.locator(".cc-conv")).to_have_count(2)

    page.locator(".cc-conv", has_text="delete me").get_by_role(
        "button", name=re.compile("^Delete")
    ).click()
    page.wait_for_timeout(5600)  # the undo window passes: now it is deleted on the server
    assert page.request.get(f"/api/chat/sessions/{doomed}/").status == 404
    assert session_id(page) != doomed  # the open conversation was the deleted one

    page.locator(".cc-conv-open", has_text="Renamed by me").click()
    wait_connected(page)
    expect(page.locator(".cc-log .cc-msg")).to_have_count(2)
    assert session_id(page) == first
    assert conversation(page)[0] == ("user", "say: keep me")


def test_message_actions_copy_pin_delete_and_edit_the_last_question(page, context):
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/")
    open_chat(page)
    ask(page, "say: **first** answer")
    wait_reply(page)
    ask(page, "say: a typo question")
    expect(last_reply(page).locator(".cc-body")).to_have_text("a typo question")
    reply = wait_reply(page)

    reply.locator(".cc-copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == "a typo question"
    expect(page.locator(".cc-sr[aria-live=polite]")).to_have_text("Copied.")

    first = page.locator(".cc-bot").first
    first.locator(".cc-pin").click()
    expect(first).to_have_class(re.compile("cc-pinned"))
    expect(first.locator(".cc-pin")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".cc-user").first.locator(".cc-edit")).to_be_hidden()  # only the last

    page.locator(".cc-user").last.locator(".cc-edit").click()
    expect(page.locator(".cc-input")).to_have_value("say: a typo question")
    page.fill(".cc-input", "say: the fixed question")
    page.keyboard.press("Enter")
    expect(wait_reply(page).locator(".cc-body")).to_have_text("the fixed question")
    assert [text for _, text in conversation(page)] == [
        "say: **first** answer", "first answer", "say: the fixed question", "the fixed question",
    ]  # fmt: skip

    page.reload()  # the server kept the edit, the pin and nothing of the replaced question
    wait_connected(page)
    expect(page.locator(".cc-log .cc-msg")).to_have_count(4)
    expect(page.locator(".cc-bot").first).to_have_class(re.compile("cc-pinned"))

    page.locator(".cc-user").first.locator(".cc-del").click()
    expect(page.locator(".cc-log .cc-msg")).to_have_count(2)


def test_after_stop_the_reply_can_be_continued_or_regenerated(page):
    page.goto("/")
    open_chat(page)
    ask(page, "Tell me everything, slowly")
    expect(last_reply(page).locator(".cc-body")).to_contain_text("Here is")
    page.click(".cc-stop")
    stopped = wait_reply(page, "stopped")

    expect(stopped.locator(".cc-continue")).to_be_visible()
    stopped.locator(".cc-regen").click()
    regenerated = wait_reply(page, "complete")
    expect(regenerated.locator(".cc-continue")).to_be_hidden()
    assert [role for role, _ in conversation(page)] == ["user", "assistant"]

    page.click(".cc-stop") if page.locator(".cc-stop").is_visible() else None
    regenerated.locator(".cc-regen").click()
    wait_reply(page)
    ask(page, "say: one more")
    wait_reply(page)
    page.locator(".cc-stop").wait_for(state="hidden")
    assert page.locator(".cc-bot .cc-continue:visible").count() == 0


def test_continue_sends_a_follow_up_after_stop(page):
    page.goto("/")
    open_chat(page)
    ask(page, "Tell me everything again, slowly")
    expect(last_reply(page).locator(".cc-body")).to_contain_text("Here is")
    page.click(".cc-stop")
    wait_reply(page, "stopped").locator(".cc-continue").click()

    wait_reply(page)
    assert conversation(page)[-2] == ("user", "Please continue.")


def test_each_reply_shows_its_model_and_speed_on_demand_and_timestamps(page):
    page.goto("/")
    open_chat(page)
    ask(page, "say: " + "fast " * 30)
    reply = wait_reply(page)

    expect(reply.locator(".cc-details")).to_have_count(0)
    reply.locator(".cc-info").click()
    details = reply.locator(".cc-details")
    expect(details).to_have_text(re.compile(r"first word after \d+ ms · [\d.]+ tokens/s"))
    assert re.match(r"\d\d:\d\d", reply.locator("time").text_content())
    page.reload()
    wait_connected(page)
    last_reply(page).locator(".cc-info").click()
    expect(last_reply(page).locator(".cc-details")).to_have_text(
        re.compile(r"^Model: scripted · first word after \d+ ms · [\d.]+ tokens/s$")
    )


def test_export_and_print(page):
    page.add_init_script("window.print = () => { window.printed = (window.printed || 0) + 1; }")
    page.goto("/")
    open_chat(page)
    ask(page, "say: export **me**")
    wait_reply(page)

    page.click(".cc-gear")
    href = page.get_by_role("link", name="Download as Markdown").get_attribute("href")
    markdown = page.request.get(href)
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert "export **me**" in markdown.text()
    page.get_by_role("button", name="Print the conversation").click()
    poll(page, "window.printed === 1")


def test_rating_and_escalation_come_back_after_a_reload(page, server):
    page.goto("/")
    open_chat(page)
    ask(page, "say: rate and escalate")
    wait_reply(page)
    page.click(".cc-rate button[data-score='5']")
    with sqlite3.connect(server.db_path) as db:
        for _ in range(50):
            rated = db.execute(
                "SELECT rating FROM chat_chatsession WHERE replace(id, '-', '') = ?",
                (session_id(page).replace("-", ""),),
            ).fetchone()
            if rated and rated[0]:
                break
            page.wait_for_timeout(100)
        db.execute(
            "UPDATE chat_chatsession SET escalated = 1 WHERE replace(id, '-', '') = ?",
            (session_id(page).replace("-", ""),),
        )

    page.reload()
    wait_connected(page)

    expect(page.locator(".cc-rate")).to_have_text("Thanks for rating 5/5.")
    expect(page.locator(".cc-escalation")).to_contain_text("Talk to a person")
    expect(page.locator(".cc-escalation a[href^='mailto:']")).to_have_count(1)


def test_the_empty_widget_greets_suggests_questions_and_links_the_help_center(page):
    page.goto("/")
    open_chat(page)

    hint = page.locator(".cc-hint")
    expect(hint.locator(".cc-hello")).to_contain_text("How can I help?")
    expect(hint.locator(".cc-suggest button")).to_have_text(
        ["say: We open at nine", "say: Prices start at ten"]
    )
    expect(hint.locator("a.cc-help")).to_have_attribute("href", re.compile(r"^http://[^/]+/help/$"))
    hint.locator(".cc-suggest button").first.click()
    expect(wait_reply(page).locator(".cc-body")).to_have_text("We open at nine")


def test_a_question_while_another_conversation_streams_stays_in_its_own(page):
    page.goto("/")
    open_chat(page)
    ask(page, "Tell me everything in the first conversation")
    expect(last_reply(page).locator(".cc-body")).to_contain_text("Hello")
    first = session_id(page)

    page.click(".cc-new")  # mid-stream: the old reply must not flow into the new conversation
    wait_connected(page)
    expect(page.locator(".cc-hint")).to_be_visible()
    page.wait_for_timeout(1500)
    assert page.locator(".cc-log .cc-msg").count() == 0
    assert session_id(page) != first


def test_concierge_ask_opens_the_widget_and_sends_context_and_universe(page):
    frames = []

    def relay(ws):
        server = ws.connect_to_server()
        ws.on_message(lambda m: (frames.append(json.loads(m)), server.send(m)))

    page.route_web_socket(re.compile(r"/ws/chat/$"), relay)
    page.goto("/")
    poll(page, "!!(window.Concierge && window.Concierge.ask)")
    universe = page.request.get("/api/chat/universes/").json()["universes"][0]["key"]

    sent = page.evaluate(
        "(u) => window.Concierge.ask({text: 'say: about this chart', "
        "context: {chart: 'speed', laps: [1, 2]}, universe: u})",
        universe,
    )

    assert sent is True
    expect(page.locator(".cc-window")).to_be_visible()
    expect(wait_reply(page).locator(".cc-body")).to_have_text("about this chart")
    message = next(f for f in frames if f["type"] == "message")
    assert message["context"] == {"chart": "speed", "laps": [1, 2]}
    assert message["universe"] == universe
    hello = next(f for f in frames if f["type"] == "hello")
    assert hello["language"] == "en"
