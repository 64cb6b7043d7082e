"""Steps the widget tests share: open the chat, ask, watch a reply, read the conversation."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

LAST_REPLY = ".cc-bot:not(.cc-typing) >> nth=-1"


def open_chat(page: Page, connection: str = "open") -> None:
    """Click the bubble and wait for the connection (`open`: WebSocket ready, `sse`: fallback)."""
    page.click(".cc-bubble")
    expect(page.locator(".cc-window")).to_be_visible()
    wait_connected(page, connection)


def wait_connected(page: Page, state: str = "open", timeout: float = 15_000) -> None:
    page.wait_for_selector(f".cc-root[data-conn={state}]", state="attached", timeout=timeout)


def ask(page: Page, text: str) -> None:
    page.fill(".cc-input", text)
    page.keyboard.press("Enter")


def last_reply(page: Page):
    return page.locator(LAST_REPLY)


def wait_reply(page: Page, status: str = "complete", timeout: float = 20_000):
    reply = last_reply(page)
    expect(reply).to_have_attribute("data-status", status, timeout=timeout)
    return reply


def reply_states(page: Page, *, until: str = "complete", timeout: float = 20.0) -> list[str]:
    """Poll the last reply's text until it has status `until`; return each distinct text seen."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = page.evaluate(
            """() => {
                const r = [...document.querySelectorAll('.cc-bot:not(.cc-typing)')].pop();
                return r ? [r.dataset.status, r.querySelector('.cc-body').textContent] : null;
            }"""
        )
        if state:
            status, text = state
            if text and (not seen or seen[-1] != text):
                seen.append(text)
            if status == until:
                return seen
        time.sleep(0.03)
    raise AssertionError(f"the reply never reached {until!r}; texts seen: {seen[-3:]}")


def rendered_text(page: Page, markdown: str) -> str:
    """The text the widget's Markdown renderer draws for `markdown` (to compare with a reply)."""
    return page.evaluate(
        "(md) => { const d = document.createElement('div'); "
        "d.append(window.Concierge.markdown(md)); return d.textContent; }",
        markdown,
    )


def conversation(page: Page) -> list[tuple[str, str]]:
    """The log as (role, text) pairs, oldest first."""
    pairs = page.evaluate(
        """() => [...document.querySelectorAll('.cc-log .cc-msg:not(.cc-typing)')].map(m => [
            m.classList.contains('cc-user') ? 'user' : 'assistant',
            m.querySelector('.cc-body').textContent])"""
    )
    return [tuple(pair) for pair in pairs]
