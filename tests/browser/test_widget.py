"""The chat widget in a real browser against the real stack (only the model is scripted)."""

from __future__ import annotations

import io
import json
import re
import sqlite3

import pytest
from playwright.sync_api import expect

from tests.browser.widget import (
    ask,
    conversation,
    last_reply,
    open_chat,
    rendered_text,
    reply_states,
    wait_connected,
    wait_reply,
)
from tests.scripted_provider import DEFAULT_REPLY

pytestmark = pytest.mark.slow
SCREENSHOT = "/tmp/widget.png"  # noqa: S108 - a file for people to look at, not a secret


def test_reply_streams_in_and_renders_markdown_as_elements(page):
    page.goto("/")
    open_chat(page)

    ask(page, "What can you do?")
    states = reply_states(page, until="complete")

    assert len(states) >= 5, states
    assert all(state.startswith("Hello") for state in states)
    assert [len(s) for s in states] == sorted(len(s) for s in states)
    reply = last_reply(page)
    expect(reply.locator("strong")).to_have_text("scripted")
    expect(reply.locator("li")).to_have_count(3)
    expect(reply.locator("em")).to_have_text("help")
    assert reply.locator(".cc-body").text_content() == rendered_text(page, DEFAULT_REPLY)
    expect(page.locator(".cc-usage")).to_have_text(re.compile(r"^\d+ messages? left today$"))
    expect(page.locator(".cc-rate button")).to_have_count(5)
    page.screenshot(path=SCREENSHOT)


def test_conversation_follows_the_visitor_to_another_page(page):
    page.goto("/")
    open_chat(page)
    ask(page, "Remember me on the next page")
    wait_reply(page)
    session = page.evaluate("localStorage.getItem('concierge:session')")

    page.click(".site-nav >> text=About")
    page.wait_for_url("**/about/")

    expect(page.locator(".cc-window")).to_be_visible()  # it stays open across pages
    wait_connected(page)
    expect(page.locator(".cc-log .cc-msg")).to_have_count(2)
    assert conversation(page) == [
        ("user", "Remember me on the next page"),
        ("assistant", rendered_text(page, DEFAULT_REPLY)),
    ]
    assert page.evaluate("localStorage.getItem('concierge:session')") == session


def test_a_reply_still_streaming_continues_on_the_next_page(page):
    page.goto("/")
    open_chat(page)
    ask(page, "Keep going while I browse")
    expect(last_reply(page).locator(".cc-body")).to_contain_text("scripted")

    page.click(".site-nav >> text=Help")
    page.wait_for_url("**/help/")

    reply_states(page, until="complete")
    assert last_reply(page).locator(".cc-body").text_content() == rendered_text(page, DEFAULT_REPLY)


def test_stop_ends_the_reply_and_keeps_the_partial_text(page):
    page.goto("/")
    open_chat(page)
    ask(page, "Tell me everything, slowly")
    expect(last_reply(page).locator(".cc-body")).to_contain_text("Here is")

    page.click(".cc-stop")

    reply = wait_reply(page, "stopped")
    partial = reply.locator(".cc-body").text_content()
    full = rendered_text(page, DEFAULT_REPLY)
    assert partial and len(partial) < len(full)
    assert full.startswith(partial[:20])
    expect(reply.locator(".cc-note")).to_have_text("Stopped")
    expect(page.locator(".cc-send")).to_be_visible()
    expect(page.locator(".cc-stop")).to_be_hidden()

    page.reload()  # what was generated is stored, with its status
    wait_connected(page)
    stored = wait_reply(page, "stopped")
    assert stored.locator(".cc-body").text_content() == partial


def test_model_output_is_never_run_as_html(page):
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("dialog", lambda dialog: dialog.dismiss())
    hostile = (
        'say: <img src=x onerror="window.pwned=1"> <script>window.pwned=2</script> **bold** '
        "[js](javascript:window.pwned=3) [data](data:text/html,hi) [proto](//evil.test/x) "
        "![tracker](http://127.0.0.1:9/pixel.png) [help](/help/) [ext](https://example.com/a) "
        '<a href="javascript:window.pwned=4">raw</a>'
    )
    page.goto("/")
    open_chat(page)

    ask(page, hostile)
    reply = wait_reply(page)

    body = reply.locator(".cc-body")
    expect(body.locator("strong")).to_have_text("bold")
    expect(body).to_contain_text('<img src=x onerror="window.pwned=1">')
    expect(body).to_contain_text("<script>window.pwned=2</script>")
    assert page.locator(".cc-log img, .cc-log script, .cc-log iframe").count() == 0
    hrefs = body.locator("a").evaluate_all(
        "as => as.map(a => [a.textContent, a.href, a.rel, a.target])"
    )
    origin = page.evaluate("location.origin")
    assert hrefs == [
        ["tracker", "http://127.0.0.1:9/pixel.png", "noopener noreferrer nofollow", "_blank"],
        ["help", f"{origin}/help/", "noopener noreferrer nofollow", "_blank"],
    ]  # [ext](https://example.com/a) is in no source: the server's link guard made it text
    expect(body).to_contain_text("ext")
    body.locator("text=raw").click()
    assert page.evaluate("window.pwned") is None
    assert not [url for url in requests if "pixel.png" in url or "evil.test" in url]


def test_markdown_blocks_are_drawn_as_elements(page):
    page.goto("/")
    text = "# Title\n\n1. one\n2. two\n\n```python\nprint('<b>')\n```\n\nline one\nline two `x<y`"
    page.wait_for_function("window.Concierge")

    html = page.evaluate(
        "(md) => { const d = document.createElement('div'); "
        "d.append(window.Concierge.markdown(md)); "
        "return [...d.children].map(e => "
        "[e.tagName, e.textContent, e.querySelectorAll('br').length]); }",
        text,
    )

    assert html == [
        ["H3", "Title", 0],
        ["OL", "onetwo", 0],
        ["PRE", "print('<b>')", 0],
        ["P", "line oneline two x<y", 1],
    ]


def test_escape_closes_the_window_and_focus_returns_to_the_bubble(page):
    page.goto("/")
    page.focus(".cc-bubble")
    page.keyboard.press("Enter")
    expect(page.locator(".cc-window")).to_be_visible()
    expect(page.locator(".cc-input")).to_be_focused()

    for _ in range(12):  # Tab never leaves the open window
        page.keyboard.press("Tab")
        assert page.evaluate(
            "document.querySelector('.cc-window').contains(document.activeElement)"
        )
    page.keyboard.press("Escape")

    expect(page.locator(".cc-window")).to_be_hidden()
    expect(page.locator(".cc-bubble")).to_be_focused()
    expect(page.locator(".cc-bubble")).to_have_attribute("aria-expanded", "false")


def test_enter_sends_and_shift_enter_adds_a_line(page):
    page.goto("/")
    open_chat(page)

    page.type(".cc-input", "say: first line")
    page.keyboard.press("Shift+Enter")
    page.type(".cc-input", "second line")
    assert page.input_value(".cc-input") == "say: first line\nsecond line"
    page.keyboard.press("Enter")

    wait_reply(page)
    assert page.input_value(".cc-input") == ""
    assert conversation(page)[-2] == ("user", "say: first line\nsecond line")
    assert last_reply(page).locator(".cc-body br").count() == 1


def test_a_reply_finished_while_closed_shows_an_unread_badge_and_is_announced(page):
    page.goto("/")
    open_chat(page)
    ask(page, "Answer me while the window is closed")
    page.keyboard.press("Escape")

    expect(page.locator(".cc-badge")).to_have_text("1", timeout=20_000)
    expect(page.locator(".cc-sr[aria-live=polite]")).to_contain_text("Hello! I am the scripted")
    page.click(".cc-bubble")
    expect(page.locator(".cc-badge")).to_be_hidden()


def test_phone_sized_screen_gets_a_full_screen_window(browser, server):
    context = browser.new_context(base_url=server.url, viewport={"width": 375, "height": 667})
    page = context.new_page()
    try:
        page.goto("/help/")
        open_chat(page)

        box = page.locator(".cc-window").bounding_box()
        assert box == {"x": 0, "y": 0, "width": 375, "height": 667}
        expect(page.locator(".cc-bubble")).to_be_hidden()
        ask(page, "say: small **screen**")
        expect(wait_reply(page).locator("strong")).to_have_text("screen")
        page.click(".cc-close")
        expect(page.locator(".cc-bubble")).to_be_visible()
    finally:
        context.close()


def test_desktop_window_is_380_by_600(page):
    page.goto("/")
    open_chat(page)

    box = page.locator(".cc-window").bounding_box()

    assert (box["width"], box["height"]) == (380, 600)


def test_rating_a_reply_is_stored_on_the_conversation(page, server):
    page.goto("/")
    open_chat(page)
    ask(page, "Rate me")
    wait_reply(page)

    page.click(".cc-rate button[data-score='4']")

    expect(page.locator(".cc-rate")).to_have_text("Thanks for rating 4/5.")
    session = page.evaluate("localStorage.getItem('concierge:session')")
    with sqlite3.connect(server.db_path) as db:
        for _ in range(50):
            row = db.execute(
                "SELECT rating FROM chat_chatsession WHERE replace(id, '-', '') = ?",
                (session.replace("-", ""),),
            ).fetchone()
            if row and row[0] is not None:
                break
            page.wait_for_timeout(100)
    assert row == (4,)


def test_an_attached_image_is_sent_with_the_message(page):
    from PIL import Image

    png = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(png, format="PNG")
    page.goto("/")
    open_chat(page)

    red = {"name": "red.png", "mimeType": "image/png", "buffer": png.getvalue()}
    page.set_input_files(".cc-file", files=[red])
    expect(page.locator(".cc-chip")).to_contain_text("red.png")
    ask(page, "say: nice picture")

    wait_reply(page)
    user = page.locator(".cc-user").last
    expect(user).to_have_attribute("data-message-id", re.compile(r"^[0-9a-f-]{36}$"))
    expect(user.locator(".cc-attached")).to_have_text("Image attached")
    expect(page.locator(".cc-chip")).to_be_hidden()


def test_an_image_of_another_type_is_refused_before_sending(page):
    page.goto("/")
    open_chat(page)

    gif = {"name": "a.gif", "mimeType": "image/gif", "buffer": b"GIF89a"}
    page.set_input_files(".cc-file", files=[gif])

    expect(page.locator(".cc-error")).to_contain_text("PNG, JPEG or WebP")
    expect(page.locator(".cc-chip")).to_be_hidden()


def test_a_failed_reply_offers_retry_which_regenerates_it(page):
    page.goto("/")
    open_chat(page)
    ask(page, "fail: half an answer")
    first = wait_reply(page, "interrupted")
    first_id = first.get_attribute("data-message-id")
    expect(first.locator(".cc-body")).to_have_text("half an answer")
    expect(page.locator(".cc-error")).to_be_visible()

    page.click(".cc-retry")

    second = wait_reply(page, "interrupted")
    assert second.get_attribute("data-message-id") != first_id
    expect(page.locator(f"[data-message-id='{first_id}']")).to_have_count(0)
    assert [role for role, _ in conversation(page)] == ["user", "assistant"]


def test_the_404_page_has_the_widget_and_tells_it_the_page_is_an_error(page):
    sent = []

    def relay(ws):
        server = ws.connect_to_server()
        ws.on_message(lambda message: (sent.append(json.loads(message)), server.send(message)))

    page.route_web_socket(re.compile(r"/ws/chat/$"), relay)
    response = page.goto("/no-such-page/")

    assert response.status == 404
    open_chat(page)
    ask(page, "say: lost?")
    expect(wait_reply(page).locator(".cc-body")).to_have_text("lost?")
    hello, message = sent[0], sent[1]
    assert hello["type"] == "hello" and hello["session"] is None
    assert hello["page"]["title"].startswith("Page not found (404)")
    assert hello["page"]["url"].endswith("/no-such-page/")
    assert hello["page"]["status"] == 404
    assert message["type"] == "message" and message["text"] == "say: lost?"
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", message["id"]
    )


def test_the_topic_select_appears_only_with_several_universes(page):
    page.goto("/")
    open_chat(page)
    count = len(page.request.get("/api/chat/universes/").json()["universes"])

    select = page.locator(".cc-universe")
    if count > 1:
        expect(select).to_be_visible()
        expect(select.locator("option")).to_have_count(count + 1)
    else:
        expect(select).to_be_hidden()


def test_sources_and_escalation_events_are_drawn_safely(page):
    """The real server's stream, with a `sources` and an `escalation` event slipped in before
    `done` (the scripted model cites nothing and never frustrates anyone)."""
    sources = [
        {"id": "kb-1", "title": "Opening hours", "url": "/help/#hours"},
        {"id": "kb-2", "title": "Not a link", "url": "javascript:alert(1)"},
    ]
    contact = {
        "email": "people@example.com",
        "phone": "+1 555 0100",
        "url": "/help/#contact",
        "hours": "Mon-Fri 9-5",
    }

    def relay(ws):
        server = ws.connect_to_server()

        def from_server(message):
            frame = json.loads(message)
            if frame["type"] == "done":
                ws.send(
                    json.dumps({"type": "sources", "message": frame["message"], "items": sources})
                )
                ws.send(
                    json.dumps(
                        {"type": "escalation", "message": "A person can help.", "contact": contact}
                    )
                )
            ws.send(message)

        server.on_message(from_server)

    page.route_web_socket(re.compile(r"/ws/chat/$"), relay)
    page.goto("/")
    open_chat(page)
    ask(page, "say: see the sources")
    reply = wait_reply(page)

    links = reply.locator(".cc-sources a")
    expect(links).to_have_count(1)
    expect(links).to_have_text("Opening hours")
    assert links.get_attribute("href").endswith("/help/#hours")
    expect(reply.locator(".cc-sources")).to_contain_text("Not a link")
    box = page.locator(".cc-escalation")
    expect(box).to_contain_text("A person can help.")
    expect(box.locator("a[href='mailto:people@example.com']")).to_have_count(1)
    expect(box.locator("a[href='tel:+15550100']")).to_have_text("+1 555 0100")
    expect(box).to_contain_text("Hours: Mon-Fri 9-5")


def test_pages_are_served_with_a_strict_content_security_policy(page):
    response = page.goto("/about/")

    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    open_chat(page)
    ask(page, "say: **strict** but _fine_")
    reply = wait_reply(page)
    expect(reply.locator("strong")).to_have_text("strict")
    expect(reply.locator("em")).to_have_text("fine")
    # The `page` fixture fails the test on any policy violation reported by the browser.
