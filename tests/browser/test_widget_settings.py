"""Themes, languages, images, the groundedness verdict and universes in the widget (Chromium,
real stack): what the visitor chooses and what the operator's configuration offers."""

from __future__ import annotations

import base64
import io
import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import start_server
from tests.browser.widget import ask, last_reply, open_chat, wait_connected, wait_reply

pytestmark = pytest.mark.slow
WS_ROUTE = re.compile(r"/ws/chat/$")


def client_frames(page) -> list[dict]:
    """Record what the widget sends over its sockets (observed, not routed)."""
    frames: list[dict] = []
    page.on(
        "websocket", lambda ws: ws.on("framesent", lambda data: frames.append(json.loads(data)))
    )
    return frames


def background(page, selector: str) -> str:
    return page.eval_on_selector(selector, "e => getComputedStyle(e).backgroundColor")


def test_the_theme_follows_the_system_and_the_visitors_choice(page):
    page.goto("/")
    open_chat(page)
    assert background(page, ".cc-window") == "rgb(255, 255, 255)"
    page.emulate_media(color_scheme="dark")
    assert background(page, ".cc-window") == "rgb(30, 35, 48)"

    page.click(".cc-gear")
    page.get_by_label("Theme").select_option("light")
    assert background(page, ".cc-window") == "rgb(255, 255, 255)"
    page.get_by_label("Theme").select_option("dark")
    page.emulate_media(color_scheme="light")
    assert background(page, ".cc-window") == "rgb(30, 35, 48)"
    page.reload()  # kept
    expect(page.locator("#concierge")).to_have_attribute("data-theme", "dark")


def test_a_host_page_sets_the_colours_through_css_variables(page):
    page.goto("/")
    page.evaluate(
        "document.documentElement.style.setProperty('--concierge-brand', 'rgb(200, 0, 0)')"
    )
    page.wait_for_timeout(400)  # the bubble's colour transition
    assert background(page, ".cc-bubble") == "rgb(200, 0, 0)"


def test_the_language_follows_the_page_and_is_told_to_the_server(page):
    frames = client_frames(page)

    # A Spanish page: <html lang="es"> by the time the widget's module runs.
    page.add_init_script(
        "document.addEventListener('readystatechange', () => { "
        "if (document.readyState === 'interactive') document.documentElement.lang = 'es'; })"
    )
    page.goto("/")
    open_chat(page)

    expect(page.locator(".cc-input")).to_have_attribute("placeholder", "Haga una pregunta…")
    expect(page.locator(".cc-bubble")).to_have_attribute("aria-label", "Abrir el chat de Concierge")
    expect(page.locator(".cc-usage")).to_have_text(re.compile(r"^Le quedan \d+ mensajes hoy$"))
    ask(page, "say: hola")
    wait_reply(page)
    expect(last_reply(page).locator(".cc-copy")).to_have_text("Copiar")
    assert frames[0]["type"] == "hello" and frames[0]["language"] == "es"


def test_the_visitors_language_choice_wins_and_is_kept(page):
    frames = client_frames(page)
    page.goto("/")
    open_chat(page)
    page.click(".cc-gear")
    page.get_by_label("Language").select_option("pt-BR")

    expect(page.locator(".cc-input")).to_have_attribute("aria-label", "Sua mensagem")
    expect(page.locator(".cc-gear")).to_have_attribute("aria-label", "Configurações")
    assert [f["language"] for f in frames if f["type"] == "hello"] == [
        "en",
        "pt-BR",
    ]  # told at once
    page.reload()
    wait_connected(page)
    expect(page.locator(".cc-conn")).to_have_text("Online")
    expect(page.locator(".cc-close")).to_have_attribute("aria-label", "Fechar o chat")
    page.screenshot(path="/tmp/widget-pt.png")


def test_the_attach_button_is_offered_only_when_the_model_sees_images(page):
    page.goto("/")
    open_chat(page)
    expect(page.locator(".cc-attach")).to_be_hidden()  # the scripted model reads no images


@pytest.fixture(scope="module")
def vision_server(tmp_path_factory, browser):
    server = start_server(tmp_path_factory.mktemp("vision"), CHAT_VISION_MODELS="*")
    yield server
    server.stop()


def test_a_large_photo_is_shrunk_in_the_browser_before_sending(browser, vision_server):
    from PIL import Image

    context = browser.new_context(base_url=vision_server.url)
    page = context.new_page()
    frames = client_frames(page)
    try:
        big = io.BytesIO()
        Image.effect_noise((3000, 2000), 64).convert("RGB").save(big, format="PNG")
        assert big.tell() > 4_000_000
        page.goto("/")
        open_chat(page)
        expect(page.locator(".cc-attach")).to_be_visible()
        page.set_input_files(
            ".cc-file",
            files=[{"name": "photo.png", "mimeType": "image/png", "buffer": big.getvalue()}],
        )
        expect(page.locator(".cc-chip")).to_contain_text("photo.png")
        ask(page, "say: what a photo")
        wait_reply(page)

        image = next(f for f in frames if f["type"] == "message")["image"]
        header, data = image.split(",", 1)
        assert header == "data:image/jpeg;base64"
        sent = Image.open(io.BytesIO(base64.b64decode(data)))
        assert max(sent.size) == 1568 and sent.size == (1568, 1045)
        assert len(image) < 700_000  # a noisy photo: the quality steps down until it fits
    finally:
        context.close()


def inject_before_done(page, extra) -> None:
    def relay(ws):
        server = ws.connect_to_server()

        def from_server(message):
            frame = json.loads(message)
            if frame["type"] == "done":
                for event in extra(frame["message"]):
                    ws.send(json.dumps(event))
            ws.send(message)

        server.on_message(from_server)

    page.route_web_socket(WS_ROUTE, relay)


def test_unsupported_sentences_are_marked_quietly(page):
    text = "Our shop opens at nine. It also sells **rockets** to the moon. Ask us anything."
    start = text.index("It also")
    end = text.index("Ask us")
    inject_before_done(
        page,
        lambda mid: [
            {"type": "verdict", "message": mid, "grounded": "partly", "unsupported": [[start, end]]}
        ],
    )
    page.goto("/")
    open_chat(page)
    ask(page, "say: " + text)
    reply = wait_reply(page)

    mark = reply.locator(".cc-unsup")
    expect(mark).to_have_text("It also sells rockets to the moon.")
    expect(mark).to_have_attribute("title", "Not found in our help center")
    expect(reply.locator(".cc-verdict")).to_have_text(
        "Parts of this answer were not found in our help center."
    )
    expect(reply.locator(".cc-body strong")).to_have_text("rockets")


def test_an_ungrounded_reply_shows_what_the_best_source_says(page):
    best = {
        "id": "kb-1",
        "title": "Opening hours",
        "url": "/help/#hours",
        "text": "We open at nine.",
    }
    inject_before_done(
        page,
        lambda mid: [
            {"type": "sources", "message": mid, "items": [best]},
            {
                "type": "verdict",
                "message": mid,
                "grounded": "ungrounded",
                "unsupported": [[0, 20]],
                "best": best,
            },
        ],
    )
    page.goto("/")
    open_chat(page)
    ask(page, "say: We never open at all.")
    verdict = wait_reply(page).locator(".cc-verdict")

    expect(verdict).to_contain_text("This answer was not found in our help center.")
    expect(verdict).to_contain_text("What our help center says: We open at nine.")
    assert verdict.locator("a").get_attribute("href").endswith("/help/#hours")


def test_the_universe_choice_shows_its_intro_and_is_kept_per_conversation(page):
    frames = client_frames(page)
    page.goto("/")
    open_chat(page)
    universes = page.request.get("/api/chat/universes/").json()["universes"]
    if len(universes) < 2:
        pytest.skip("fewer than two universes registered")
    chosen = universes[1]
    page.select_option(".cc-universe", chosen["key"])
    expect(page.locator(".cc-intro")).to_have_text(chosen["intro"])
    ask(page, "say: in a universe")
    wait_reply(page)
    assert next(f for f in frames if f["type"] == "message")["universe"] == chosen["key"]
    first = page.evaluate("localStorage.getItem('concierge:session')")

    page.click(".cc-new")
    wait_connected(page)
    page.wait_for_timeout(500)
    assert page.evaluate("localStorage.getItem('concierge:session')") != first
    expect(page.locator(".cc-universe")).to_have_value("")

    page.click(".cc-list-btn")
    page.locator(".cc-conv-open").first.click()
    wait_connected(page)
    expect(page.locator(".cc-universe")).to_have_value(chosen["key"])
