"""The Formula 1 pages: they render the real race, carry the widget and their data as JSON, and
stay within the Content-Security-Policy (no inline script, no style attributes)."""

from __future__ import annotations

import json
import re

import pytest

from telemetry import selectors
from tests.telemetry.conftest import EVENT_KEY

pytestmark = pytest.mark.django_db

DASHBOARD = f"/f1/{EVENT_KEY}/"
COMPARE = f"/f1/{EVENT_KEY}/compare/"


def page_data(response) -> dict:
    match = re.search(
        r'<script id="telemetry-data" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, "the page carries its data as JSON"
    return json.loads(match.group(1))


def assert_csp_clean(html: str) -> None:
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"\sstyle=", html), "no style attributes (style-src 'self')"
    assert not re.search(r"\son[a-z]+=", html), "no inline event handlers"


def test_the_race_list_links_the_loaded_race_and_the_nav_links_the_list(client, bahrain):
    html = client.get("/f1/").content.decode()
    assert "2023 Bahrain Grand Prix" in html and DASHBOARD in html and COMPARE in html
    home = client.get("/").content.decode()
    assert '<a href="/f1/">Formula 1</a>' in home


def test_the_race_list_says_how_to_import_when_nothing_is_loaded(client, db):
    assert "manage.py import_f1" in client.get("/f1/").content.decode()


def test_the_dashboard_shows_the_classification_and_every_chart(client, bahrain):
    response = client.get(DASHBOARD)
    html = response.content.decode()
    assert response.status_code == 200
    assert_csp_clean(html)
    assert 'class="cc-root' in html or "chat/widget.js" in html  # the widget is on the page
    assert html.index(">VER<") < html.index(">PER<") < html.index(">ALO<")
    assert "1:33:56.736" in html and "+11.987s" in html
    data = page_data(response)
    assert set(data["charts"]) == {"lap_times", "positions", "strategy", "pit_stops", "weather"}
    for key, chart in data["charts"].items():
        assert f'data-ask="{key}"' in html and f'id="{key}-canvas"' in html
        assert chart["context"]["race"] == EVENT_KEY and chart["context"]["chart_type"]
    lap_times = data["charts"]["lap_times"]
    assert [s["code"] for s in lap_times["series"]] == ["VER", "PER", "ALO"]
    assert lap_times["context"]["numbers"]["VER best lap"] == "1:36.236 (lap 44)"


def test_the_dashboard_draws_the_drivers_the_visitor_picks(client, bahrain):
    data = page_data(client.get(DASHBOARD, {"driver": ["ham", "RUS", "XXX"]}))
    assert [s["code"] for s in data["charts"]["positions"]["series"]] == ["HAM", "RUS"]
    strategy = {r["code"]: r["stints"] for r in data["charts"]["strategy"]["rows"]}
    assert [s["compound"] for s in strategy["VER"]] == ["SOFT", "SOFT", "HARD"]


def test_the_comparison_has_traces_delta_and_the_fastest_sectors_marked(client, bahrain):
    response = client.get(COMPARE, {"a": "VER", "b": "PER"})
    html = response.content.decode()
    assert_csp_clean(html)
    data = page_data(response)
    assert set(data["charts"]) == {"speed", "throttle", "brake", "delta", "sectors"}
    speed = data["charts"]["speed"]["series"]
    assert [s["code"] for s in speed] == ["VER", "PER"] and len(speed[0]["values"]) == 352
    delta = data["charts"]["delta"]["points"]
    assert delta[0][1] == 0 and delta[-1][1] == pytest.approx(96.344 - 96.236, abs=0.002)
    rows = {r["code"]: r for r in data["charts"]["sectors"]["rows"]}
    assert rows["VER"]["fastest"] == ["sector1_s", "sector3_s", "lap_time_s"]
    assert rows["PER"]["fastest"] == ["sector2_s"]
    assert html.count('class="tm-fastest"') == 4


def test_the_comparison_falls_back_to_drivers_with_telemetry(client, bahrain):
    data = page_data(client.get(COMPARE, {"a": "HAM", "b": "HAM"}))
    assert data["pair"]["codes"] == ["VER", "PER"]
    assert selectors.drivers_with_telemetry(session=selectors.race_get(key=EVENT_KEY).session) == [
        "VER",
        "PER",
        "ALO",
        "SAI",
        "ZHO",
    ]


def test_an_unknown_race_is_a_404_and_the_pages_are_read_only(client, bahrain):
    assert client.get("/f1/1999-nowhere/").status_code == 404
    assert client.get("/f1/1999-nowhere/compare/").status_code == 404
    assert client.post(DASHBOARD).status_code == 405


def test_staff_browse_the_imported_race_read_only_and_visitors_cannot(client, bahrain, alice):
    from django.contrib.auth.models import Permission

    alice.is_staff = True
    alice.save()
    client.force_login(alice)
    assert client.get("/admin/telemetry/lap/").status_code == 403  # no permission yet
    alice.user_permissions.add(Permission.objects.get(codename="view_lap"))
    listing = client.get("/admin/telemetry/lap/")
    assert listing.status_code == 200 and "1056 laps" in listing.content.decode()
    assert client.get("/admin/telemetry/lap/add/").status_code == 403
    client.logout()
    assert client.get("/admin/telemetry/lap/").status_code == 302  # to the login page


def test_a_second_race_gets_its_own_pages(client, bahrain, race_copy):
    from telemetry.services import race_import

    event = (race_copy / "event.csv").read_text()
    event = event.replace("2023-", "2024-").replace("Bahrain Grand Prix", "Sakhir Test Race")
    (race_copy / "event.csv").write_text(event)
    race_import(path=race_copy)
    listing = client.get("/f1/").content.decode()
    assert listing.index("2024 Sakhir Test Race") < listing.index("2023 Bahrain Grand Prix")
    data = page_data(client.get("/f1/2024-sakhir-test-race/compare/"))
    assert data["charts"]["delta"]["context"]["race"] == "2024-sakhir-test-race"
