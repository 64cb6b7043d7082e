"""Accessibility of the widget in Chromium: an axe-core audit (vendored from the npm registry,
injected by the test only) with the widget open, the conversation list shown and a reply
streamed; keyboard-only use; target sizes on a phone."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.widget import ask, open_chat, wait_reply

pytestmark = pytest.mark.slow
AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
FAILING = ("serious", "critical")


def audit(page) -> list[dict]:
    """axe-core's violations on the whole page, as [{id, impact, nodes: [target...]}]."""
    page.evaluate(AXE + "\n;true")  # through DevTools, not a <script>: the page's CSP stays on
    return page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.map(n => n.target.join(' '))}))"""
    )


def serious(violations: list[dict]) -> list[dict]:
    return [v for v in violations if v["impact"] in FAILING]


def test_axe_finds_nothing_serious_open_listed_and_after_a_reply(page):
    page.goto("/")
    open_chat(page)
    expect(page.locator(".cc-hint")).to_be_visible()
    assert serious(audit(page)) == [], "widget open"

    ask(page, "say: **Bold** claim with a [link](/help/) and `code`")
    wait_reply(page)
    expect(page.locator(".cc-rate button")).to_have_count(5)
    found = audit(page)
    assert serious(found) == [], "reply streamed"

    page.click(".cc-list-btn")
    expect(page.locator(".cc-conv")).to_have_count(1)
    assert serious(audit(page)) == [], "conversation list"
    page.click(".cc-gear")
    assert serious(audit(page)) == [], "settings"
    page.screenshot(path="/tmp/widget-settings.png")
    print("axe, minor and moderate:", [(v["id"], v["impact"]) for v in found])


def test_axe_finds_nothing_serious_in_the_dark_theme(page):
    page.emulate_media(color_scheme="dark")
    page.goto("/")
    open_chat(page)
    ask(page, "say: dark *mode* reply")
    wait_reply(page)
    assert page.locator("#concierge").get_attribute("data-theme") == "system"
    assert serious(audit(page)) == []
    page.screenshot(path="/tmp/widget-dark.png")


def test_keyboard_only_open_ask_rate_in_order_and_close(page):
    page.goto("/")
    for _ in range(40):  # Tab from the top of the page to the bubble
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('cc-bubble')"):
            break
    page.keyboard.press("Enter")
    expect(page.locator(".cc-input")).to_be_focused()
    page.keyboard.type("say: keyboard **only**")
    page.keyboard.press("Enter")
    wait_reply(page)

    scores = []
    for _ in range(60):
        page.keyboard.press("Tab")
        score = page.evaluate("document.activeElement.dataset.score || null")
        if score:
            scores.append(int(score))
        if len(scores) == 5:
            break
    assert scores == [1, 2, 3, 4, 5]  # the stars in reading order
    page.keyboard.press("Enter")  # rate 5
    expect(page.locator(".cc-rate")).to_have_text("Thanks for rating 5/5.")

    page.keyboard.press("Escape")
    expect(page.locator(".cc-window")).to_be_hidden()
    expect(page.locator(".cc-bubble")).to_be_focused()


def test_escape_closes_the_pane_first_and_a_reply_is_announced_once(page):
    page.goto("/")
    open_chat(page)
    page.evaluate(
        """() => { window.said = [];
            const region = document.querySelector('.cc-sr[aria-live=polite]');
            const keep = () => { if (region.textContent) window.said.push(region.textContent); };
            new MutationObserver(keep)
                .observe(region, {childList: true, characterData: true, subtree: true}); }"""
    )
    ask(page, "say: " + "many tokens here " * 10)
    wait_reply(page)
    page.wait_for_timeout(300)
    said = page.evaluate("window.said")
    assert len(said) == 1 and "many tokens here" in said[0]  # once, not per token
    assert page.locator(".cc-log").get_attribute("aria-live") == "off"

    page.click(".cc-list-btn")
    expect(page.locator(".cc-search")).to_be_focused()  # the pane loads on first use
    page.keyboard.press("Escape")
    expect(page.locator(".cc-pane")).to_be_hidden()
    expect(page.locator(".cc-window")).to_be_visible()


def test_touch_targets_on_a_phone(browser, server):
    context = browser.new_context(base_url=server.url, viewport={"width": 375, "height": 667})
    page = context.new_page()
    try:
        page.goto("/")
        open_chat(page)
        ask(page, "say: small screen")
        wait_reply(page)
        for selector in (".cc-list-btn", ".cc-new", ".cc-gear", ".cc-minimize", ".cc-close"):
            box = page.locator(selector).bounding_box()
            assert box["width"] >= 44 and box["height"] >= 44, (selector, box)
        for star in page.locator(".cc-stars button").all():
            box = star.bounding_box()
            assert box["width"] >= 24 and box["height"] >= 24, box
        for action in page.locator(".cc-bot .cc-act:visible").all():
            assert action.bounding_box()["height"] >= 24
        page.screenshot(path="/tmp/widget-phone.png")
    finally:
        context.close()
