"""The operator's pages in Chromium through the real admin, on a real daphne server.

Fakes only at the edges we do not own: Ollama (tests/operator/fake_ollama.py, its real wire
format) and an OpenAI-compatible server (LM Studio, and the test-connection target).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.chat.providers.fake_servers import OpenAIServer, Reply, openai_stream
from tests.live import LiveServer, migrate_db
from tests.operator.fake_ollama import FakeOllama, PullScript, pull_lines
from tests.operator.test_multiprocess import PASSWORD, create_superuser
from tests.services import free_port, missing

pytestmark = pytest.mark.slow

API_KEY = "sk-browser-SECRET-9876543210fedcba"
GB = 1_000_000_000
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture(scope="module")
def fakes():
    with FakeOllama() as ollama, OpenAIServer(models=["lmstudio-community/qwen2.5-7b"]) as lm:
        ollama.add_model(
            "llama3.2:latest", size=2_019_393_189, family="llama", parameter_size="3.2B"
        )
        ollama.add_model("qwen2.5:0.5b", size=397_821_319, family="qwen2")
        yield ollama, lm


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        missing(f"chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, fakes, browser):
    ollama, lm = fakes
    db_path = tmp_path_factory.mktemp("operator-browser") / "db.sqlite3"
    env = {
        "KNOWLEDGE_DENSE_SEARCH": "false",
        "CONCIERGE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "OLLAMA_BASE_URL": ollama.url,
        "LMSTUDIO_BASE_URL": f"{lm.url}/v1",
        "LOCAL_MODEL_PORT": str(free_port()),  # nothing there: the embedded server is down
        "LOG_LEVEL": "INFO",
        "CHAT_TIMEOUT_CONNECT": "2",
    }
    migrate_db(db_path, env=env)
    create_superuser(db_path, env)
    server = LiveServer(db_path=db_path, env=env)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.goto("/admin/login/")
    page.fill("#id_username", "olga")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))
    yield page
    context.close()
    assert not errors, f"JavaScript errors or CSP violations: {errors}"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"operator-{name}.png"), full_page=True)


SETTINGS = "/admin/chat/assistantsettings/1/change/"


def test_the_settings_form_saves_validates_and_never_shows_the_key(page, server):
    page.goto(SETTINGS)
    assert "not set" in page.inner_text(".field-api_key")
    page.fill("#id_temperature", "5")
    page.click("input[name=_save]")
    assert "Must be between 0 and 2" in page.inner_text(".field-temperature .errorlist")
    page.fill("#id_temperature", "0.6")
    page.fill("#id_top_k", "40")
    page.fill("#id_tone", "warm and brief")
    page.fill("#id_api_key", API_KEY)
    page.click("input[name=_save]")
    assert "changed successfully" in page.inner_text(".messagelist")
    assert "Stored API key: set" in page.inner_text(".field-api_key")
    assert page.input_value("#id_api_key") == ""
    assert page.input_value("#id_temperature") == "0.6"
    shot(page, "settings")
    assert API_KEY not in page.content()
    effective = page.request.get("/admin/chat/assistantsettings/effective.json").json()
    assert effective["config"]["generation"]["top_k"] == 40
    assert effective["config"]["api_key_set"] is True
    assert API_KEY not in server.log_tail(10**7)


def test_test_connection_streams_through_the_provider_and_reports_ttft(page, fakes):
    _, lm = fakes
    page.goto(SETTINGS)
    page.select_option("#id_provider", "openai")
    page.fill("#id_base_url", f"{lm.url}/v1")
    page.fill("#id_model", "lmstudio-community/qwen2.5-7b")
    status = page.locator("#operator-test-status")
    ttfts = []
    for _ in range(2):  # the first test in a fresh process also pays the SDK's lazy imports
        lm.enqueue(Reply(frames=openai_stream(["The ", "connection ", "works."], pause=0.2)))
        page.click("#operator-test-button")
        status.filter(has_text="first token in").wait_for()
        text = status.inner_text()
        ttfts.append(int(re.search(r"first token in (\d+) ms", text).group(1)))
        assert page.inner_text("#operator-test-output") == "The connection works."
        if len(ttfts) == 2:
            shot(page, "test-connection")
        page.evaluate("() => { document.getElementById('operator-test-status').textContent = ''; }")
    print(f"\ntest connection TTFT (server pauses 200 ms): cold {ttfts[0]} ms, warm {ttfts[1]} ms")
    assert 200 <= ttfts[1] < 2000, ttfts
    assert lm.posts[-1].body["model"] == "lmstudio-community/qwen2.5-7b"


def progress(page) -> tuple[float, float, str]:
    return page.evaluate(
        "() => { const p = document.getElementById('ollama-pull-progress');"
        " return [p.value, p.max, document.getElementById('ollama-pull-status').textContent]; }"
    )


def test_the_model_manager_lists_pulls_with_a_live_bar_loads_unloads_and_deletes(page, fakes):
    ollama, _ = fakes
    lines = pull_lines("qwen2.5:1.5b", layers=[986_000_000, 11_000], steps=20)
    ollama.script_pull("qwen2.5:1.5b", PullScript(lines=lines, delay=0.08, family="qwen2"))
    page.goto("/admin/chat/assistantsettings/models/")
    row = page.locator('#ollama-models tr[data-model="llama3.2:latest"]')
    row.wait_for()
    assert "2.0 GB" in row.inner_text() and "llama" in row.inner_text()
    lm_row = page.locator('.operator-server[data-server="lmstudio"] tr[data-model]')
    lm_row.wait_for()
    down = page.locator('.operator-server[data-server="llamacpp"] .operator-status')
    down.filter(has_text="Cannot reach the model at").wait_for()

    page.fill("#ollama-pull-name", "qwen2.5:1.5b")
    started = time.monotonic()
    page.click("#ollama-pull-form button[type=submit]")
    seen: list[tuple[float, float, float]] = []
    while time.monotonic() - started < 20:
        value, maximum, status = progress(page)
        if maximum > 1 and (not seen or value != seen[-1][1]):
            seen.append((time.monotonic(), value, maximum))
        if len(seen) == 12:
            shot(page, "pull-in-progress")
        if status.startswith("Pulled"):
            break
        time.sleep(0.02)
    elapsed = time.monotonic() - started
    fractions = [v / m for _, v, m in seen]
    assert len(fractions) >= 10, fractions  # the bar moved step by step, not at the end only
    values = [v for _, v, _ in seen]
    assert values == sorted(values) and fractions[0] < 0.5  # bytes only grow
    # (the fraction may dip when Ollama announces the next layer: totals come layer by layer)
    assert progress(page)[2] == "Pulled qwen2.5:1.5b."
    page.locator('#ollama-models tr[data-model="qwen2.5:1.5b"]').wait_for()
    sent = dict(
        (line.get("completed"), when) for when, line in ollama.pull_sent if line.get("completed")
    )
    lags = [when - sent[v] for when, v, _ in seen[1:-1] if v in sent and v < 986_000_000]
    print(
        f"\npull: {len(lines)} NDJSON lines in {elapsed:.2f} s, {len(seen)} bar updates seen,"
        f" relay lag p50 {sorted(lags)[len(lags) // 2] * 1000:.0f} ms max {max(lags) * 1000:.0f} ms"
        if lags
        else f"\npull: {elapsed:.2f} s"
    )
    shot(page, "pull-done")

    model = page.locator('#ollama-models tr[data-model="qwen2.5:0.5b"]')
    model.get_by_role("button", name="Load", exact=True).click()
    page.locator('#ollama-running tr[data-model="qwen2.5:0.5b"]').wait_for()
    model.get_by_role("button", name="Details").click()
    page.locator("#ollama-details dd").filter(has_text="32768").wait_for()
    assert "qwen2" in page.inner_text("#ollama-details")
    model.get_by_role("button", name="Unload", exact=True).click()
    page.locator('#ollama-running tr[data-model="qwen2.5:0.5b"]').wait_for(state="detached")
    page.once("dialog", lambda dialog: dialog.accept())
    model.get_by_role("button", name="Delete").click()
    model.wait_for(state="detached")
    assert "qwen2.5:0.5b" not in ollama.models


def test_a_pull_that_fails_halfway_shows_ollamas_error(page, fakes):
    ollama, _ = fakes
    lines = pull_lines("llama3.1", layers=[4 * GB], steps=10, fail_after=5)
    ollama.script_pull("llama3.1", PullScript(lines=lines, delay=0.05))
    page.goto("/admin/chat/assistantsettings/models/")
    page.fill("#ollama-pull-name", "llama3.1")
    page.click("#ollama-pull-form button[type=submit]")
    status = page.locator("#ollama-pull-status")
    status.filter(has_text="failed").wait_for()
    assert status.inner_text() == "Pull of llama3.1 failed: max retries exceeded: unexpected EOF"
    value, maximum, _ = progress(page)
    assert value / maximum == pytest.approx(0.5)  # the bar stays where the pull stopped
    shot(page, "pull-failed")


def test_choosing_a_listed_model_makes_it_the_assistants(page):
    page.goto("/admin/chat/assistantsettings/models/")
    section = page.locator('.operator-server[data-server="lmstudio"]')
    section.get_by_role("button", name="Use").click()
    section.locator(".operator-status").filter(has_text="Now using").wait_for()
    assert page.inner_text("#operator-in-use-model") == "lmstudio-community/qwen2.5-7b"
    config = page.request.get("/admin/chat/assistantsettings/effective.json").json()["config"]
    assert config["model"] == "lmstudio-community/qwen2.5-7b" and config["provider"] == "openai"


def test_the_admin_index_shows_health_at_a_glance(page):
    page.goto("/admin/")
    panel = page.locator("#operator-health")
    panel.locator('[data-slot="usage"]').filter(has_text="messages").wait_for()
    assert "Redis" in panel.inner_text() and "not configured" in panel.inner_text()
    assert "scripted" in panel.inner_text() or "openai" in panel.inner_text()
    shot(page, "admin-index")


def test_a_visitor_is_sent_to_the_login_page(browser, server):
    context = browser.new_context(base_url=server.url)
    page = context.new_page()
    for path in (SETTINGS, "/admin/chat/assistantsettings/models/"):
        page.goto(path)
        assert "/admin/login/" in page.url
    response = page.request.get("/admin/chat/assistantsettings/effective.json")
    assert response.status == 403
    context.close()
