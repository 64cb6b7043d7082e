"""The widget when the network or the server misbehaves: restarts, dropped sockets, no WebSocket
at all, and refusals (rate limit, daily allowance)."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import start_server
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

WS_ROUTE = re.compile(r"/ws/chat/$")


def test_widget_reconnects_by_itself_after_the_server_restarts(page, server):
    page.goto("/")
    open_chat(page)
    ask(page, "say: before the restart")
    wait_reply(page)

    # The states the widget shows, as they change: the restart can take less time than the
    # widget's first retry, so "Reconnecting…" may be over before the restart call returns.
    page.evaluate(
        """() => {
            const root = document.querySelector(".cc-root");
            window.ccStates = [];
            new MutationObserver(() => window.ccStates.push(root.dataset.conn))
                .observe(root, { attributes: true, attributeFilter: ["data-conn"] });
        }"""
    )
    server.restart()

    page.wait_for_function(
        """() => window.ccStates.includes("offline")
            && window.ccStates.at(-1) === "open"
            && window.ccStates.indexOf("offline") < window.ccStates.lastIndexOf("open")""",
        timeout=20_000,
    )
    ask(page, "say: after the restart")
    expect(wait_reply(page).locator(".cc-body")).to_have_text("after the restart")
    expected = [
        ("user", "say: before the restart"),
        ("assistant", "before the restart"),
        ("user", "say: after the restart"),
        ("assistant", "after the restart"),
    ]
    assert conversation(page) == expected
    page.reload()  # and the server has all of it
    wait_connected(page)
    expect(page.locator(".cc-log .cc-msg")).to_have_count(4)
    assert conversation(page) == expected


# Words without digits: the link guard holds back any run that could grow into a phone number
# ("000 001 002 ..." is one), so a reply of numbers would arrive in a single piece at the end.
WORDS = " ".join(a + b for a in "abcde" for b in "abcdefghijklmnopqrstuvwxyz")


def test_a_dropped_socket_resumes_the_reply_without_losing_or_repeating_a_token(page):
    sockets, hellos = [], []

    def relay(ws):
        server = ws.connect_to_server()

        def to_server(message):  # with a handler installed, the page's frames are ours to forward
            frame = json.loads(message)
            if frame["type"] == "hello":
                hellos.append(frame)
            server.send(message)

        ws.on_message(to_server)
        sockets.append(ws)

    page.route_web_socket(WS_ROUTE, relay)
    page.goto("/")
    open_chat(page)

    ask(page, f"say: {WORDS}")
    expect(last_reply(page).locator(".cc-body")).to_contain_text(" ak ")
    sockets[0].close()

    wait_connected(page, "offline", timeout=5_000)
    expect(page.locator(".cc-conn")).to_have_text("Reconnecting…")
    states = reply_states(page, until="complete")
    wait_connected(page, "open")
    expect(page.locator(".cc-conn")).to_have_text("Online")

    assert len(sockets) == len(hellos) == 2
    resume = hellos[1]["resume"]
    reply = stored_messages(page, hellos[1]["session"])[-1]
    assert resume["message"] == reply["id"]
    assert resume["seq"] > 0  # resumed mid-reply, not drawn again from the history
    assert (reply["status"], reply["text"]) == ("complete", WORDS)
    assert states[-1] == WORDS
    assert all(WORDS.startswith(state) for state in states)


def stored_messages(page, session: str) -> list[dict]:
    response = page.request.get(f"/api/chat/sessions/{session}/messages/")
    assert response.ok, response.text()
    return response.json()["messages"]


def test_it_falls_back_to_sse_when_the_websocket_cannot_connect(page):
    attempts = []
    page.route_web_socket(WS_ROUTE, lambda ws: (attempts.append(ws), ws.close()))
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.goto("/")
    open_chat(page, "sse")

    assert len(attempts) == 2
    ask(page, "Stream this over SSE")
    states = reply_states(page, until="complete")

    assert len(states) >= 5
    assert states[-1] == rendered_text(page, DEFAULT_REPLY)
    expect(last_reply(page).locator("li")).to_have_count(3)
    assert [url for url in posts if url.endswith("/api/chat/stream/")]
    page.reload()  # the SSE conversation was stored in the visitor's session
    wait_connected(page, "sse", timeout=10_000)
    expect(page.locator(".cc-log .cc-msg")).to_have_count(2)


def test_the_force_sse_flag_skips_the_websocket(page):
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws))
    page.add_init_script("localStorage.setItem('concierge:forceSSE', '1')")
    page.goto("/")
    open_chat(page, "sse")

    ask(page, "say: no **socket** needed")

    expect(wait_reply(page).locator("strong")).to_have_text("socket")
    assert sockets == []
    ask(page, "say: and a second one")
    expect(wait_reply(page).locator(".cc-body")).to_have_text("and a second one")


def test_a_click_on_the_bubble_while_the_sse_module_loads_opens_the_widget(page):
    """The SSE transport's module loads on demand: a bubble on the page while it loads must
    answer a click (CI once clicked into that gap and the widget never opened)."""
    held = []
    page.route(re.compile(r"/static/chat/sse\.[0-9a-f]+\.js$"), lambda route: held.append(route))
    page.add_init_script("localStorage.setItem('concierge:forceSSE', '1')")
    page.goto("/")
    for _ in range(250):  # until the widget asks for the module (held: it does not arrive)
        if held:
            break
        page.wait_for_timeout(20)
    assert held, "the widget never loaded the SSE transport"
    clicked_early = page.locator(".cc-bubble").count() > 0
    if clicked_early:
        page.click(".cc-bubble")  # the bubble is there: the visitor may click it now
    held[0].continue_()
    if not clicked_early:
        page.click(".cc-bubble")
    expect(page.locator(".cc-window")).to_be_visible()
    wait_connected(page, "sse")


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory, browser):
    """A server allowing one message a minute and one a day, to see the refusals."""
    server = start_server(
        tmp_path_factory.mktemp("strict"), CHAT_RATE_LIMIT="1/minute", CHAT_QUOTA_ANON_MESSAGES="1"
    )
    yield server
    server.stop()


def test_a_rate_limited_message_shows_the_servers_message_and_when_to_retry(browser, strict_server):
    context = browser.new_context(base_url=strict_server.url)
    page = context.new_page()
    try:
        page.goto("/")
        open_chat(page)
        ask(page, "say: one")
        wait_reply(page)
        expect(page.locator(".cc-usage")).to_have_text("0 messages left today")
        expect(page.locator(".cc-usage")).to_have_class(re.compile(r"\bcc-warn\b"))

        ask(page, "say: two")

        error = page.locator(".cc-error")
        expect(error).to_be_visible()
        expect(error).to_contain_text(re.compile(r"Try again in \d+ s\."))
        assert page.locator("#concierge").get_attribute("data-error") in {
            "rate_limited",
            "quota_exceeded",
        }
        expect(page.locator(".cc-user").last).to_have_class(re.compile(r"\bcc-failed\b"))
        expect(page.locator(".cc-send")).to_be_visible()
    finally:
        context.close()


def test_a_question_asked_before_the_connection_is_ready_is_kept_and_answered(page):
    held, routes, hold = [], [], [True]

    def hold_until_released(ws):
        server = ws.connect_to_server()
        routes.append(ws)
        server.on_message(lambda message: held.append(message) if hold[0] else ws.send(message))

    page.route_web_socket(WS_ROUTE, hold_until_released)
    page.goto("/")
    page.click(".cc-bubble")
    ask(page, "say: early bird")
    expect(page.locator(".cc-user .cc-body")).to_have_text("say: early bird")
    page.wait_for_timeout(500)

    assert [json.loads(m)["type"] for m in held] == ["ready"]  # the server's answer to hello
    hold[0] = False
    routes[0].send(held[0])

    expect(wait_reply(page).locator(".cc-body")).to_have_text("early bird")
    assert conversation(page) == [("user", "say: early bird"), ("assistant", "early bird")]


def test_stop_over_sse_stops_the_reply_on_the_server(page):
    page.add_init_script("localStorage.setItem('concierge:forceSSE', '1')")
    page.goto("/")
    open_chat(page, "sse")
    ask(page, "say: " + "a slow and careful answer " * 20)
    expect(last_reply(page).locator(".cc-body")).not_to_have_text("", timeout=10_000)
    page.click(".cc-stop")
    reply = wait_reply(page, "stopped")
    partial = reply.locator(".cc-body").text_content()
    assert 0 < len(partial) < len("a slow and careful answer " * 20)
    page.reload()  # the server stored it as stopped, with the same partial text
    wait_connected(page, "sse", timeout=10_000)
    stored = wait_reply(page, "stopped")
    assert stored.locator(".cc-body").text_content() == partial
