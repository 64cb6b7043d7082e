"""The analytics dashboard in real Chromium against a real daphne, on the synthetic demo data."""

from __future__ import annotations

import subprocess
import sys

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SERVER_ENV, browser  # noqa: F401 - the module's Chromium
from tests.live import ROOT, LiveServer, migrate_db, server_env

pytestmark = pytest.mark.slow
SCREENSHOT = "/tmp/analytics-dashboard.png"  # noqa: S108 - a file for people to look at
URL = "/admin/analytics/dashboard/"
USERS = """
from django.contrib.auth.models import Permission, User
analyst = User.objects.create_user("analyst", "a@example.com", "analyst-pw-1", is_staff=True)
analyst.user_permissions.add(*Permission.objects.filter(
    codename__in=["view_dashboard", "view_chatsession"]))
User.objects.create_user("helper", "h@example.com", "helper-pw-1", is_staff=True)
User.objects.create_user("visitor", "v@example.com", "visitor-pw-1")
"""


def manage(db_path, *args: str) -> None:
    result = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True,
        env=server_env(db_path=db_path, env=SERVER_ENV), timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory, browser):  # noqa: F811
    db_path = tmp_path_factory.mktemp("analytics-live") / "db.sqlite3"
    migrate_db(db_path, env=SERVER_ENV)
    manage(db_path, "seed_analytics_demo", "--days=21", "--per-day=6")
    manage(db_path, "shell", "-c", USERS)
    server = LiveServer(db_path=db_path, env=SERVER_ENV)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def page(browser, server):  # noqa: F811
    context = browser.new_context(base_url=server.url, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda m: page.errors.append(m.text)
            if "Content Security Policy" in m.text else None)  # fmt: skip
    yield page
    context.close()
    assert not page.errors, f"JavaScript errors or CSP violations: {page.errors}"


def login(page, username: str, password: str) -> None:
    page.goto(f"/admin/login/?next={URL}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")


def total(page, name: str) -> str:
    return page.locator(f'[data-total="{name}"]').inner_text()


def test_the_charts_draw_under_the_csp(page):
    login(page, "analyst", "analyst-pw-1")
    page.wait_for_url(f"**{URL}")
    response = page.reload()
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("style-src")[0]
    expect(page.locator("body")).to_have_attribute("data-charts-drawn", "9")
    drawn = page.evaluate("""() => [...document.querySelectorAll('canvas')].map((canvas) => {
        const chart = Chart.getChart(canvas);
        const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let inked = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) inked++;
        return [canvas.id, chart ? chart.data.datasets[0].data.length : 0, inked];
    })""")
    assert len(drawn) == 9
    for canvas_id, points, inked in drawn:
        assert points > 0 and inked > 500, (canvas_id, points, inked)
    assert int(total(page, "conversations")) > 50
    expect(page.locator("#an-synthetic")).to_contain_text("synthetic demo conversations")
    expect(page.locator("#an-resolved-definition")).to_contain_text("not rated below 3")
    page.screenshot(path=SCREENSHOT, full_page=True)


def test_filters_change_the_numbers(page):
    login(page, "analyst", "analyst-pw-1")
    page.wait_for_url(f"**{URL}")
    everyone = int(total(page, "conversations"))
    page.select_option("select[name=user_type]", "anonymous")
    page.click("#an-filters button[type=submit]")
    page.wait_for_url("**user_type=anonymous**")
    anonymous = int(total(page, "conversations"))
    assert 0 < anonymous < everyone
    page.select_option("select[name=model]", "claude-sonnet-4-5")
    page.click("#an-filters button[type=submit]")
    page.wait_for_url("**model=claude-sonnet-4-5**")
    assert int(total(page, "conversations")) < anonymous
    assert page.locator("#table-models tbody tr").count() == 1
    expect(page.locator("body")).to_have_attribute("data-charts-drawn", "9")
    link = page.locator("#table-costliest-2 a").first
    link.click()
    expect(page.locator("#result_list")).to_be_visible()  # their conversations in the admin


def test_staff_without_the_permission_and_visitors_are_refused(page):
    login(page, "helper", "helper-pw-1")
    response = page.goto(URL)
    assert response.status == 403
    page.context.clear_cookies()
    login(page, "visitor", "visitor-pw-1")
    expect(page.locator(".errornote")).to_be_visible()  # not staff: the admin does not log in
    assert page.goto(URL).url.startswith(page.url.split("/admin/")[0] + "/admin/login/")
