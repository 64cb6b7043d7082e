"""The Formula 1 pages: the list of races, a race dashboard, a two-driver comparison.

Public pages (the demo site's data is public), read-only (GET only). Every chart's numbers go to
the page as JSON (`json_script`), drawn by static/telemetry/*.js.
"""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from chat.ask_about import ask_about_prime
from chat.exceptions import ChatError
from telemetry import pages, selectors
from telemetry.exceptions import UnknownRace


def _race_or_404(event_key: str) -> selectors.RaceRef:
    try:
        return selectors.race_get(key=event_key)
    except UnknownRace:
        raise Http404("No such race is loaded.") from None


def _chart_json(charts: dict) -> dict:
    """What the scripts need of each chart (the tables stay in the HTML), with the prompt that
    "Ask AI about this chart" sends, made by the same template as POST /api/chat/ask-about/."""
    return {
        key: {**{k: v for k, v in chart.items() if k != "table"}, "prompt": _prompt(chart)}
        for key, chart in charts.items()
    }


def _prompt(chart: dict) -> str:
    try:
        return ask_about_prime(chart_type=chart["chart_type"], context=chart["context"]).prompt
    except ChatError:
        return ""


@require_GET
def race_list(request):
    races = [pages.race_header(selectors.race_get(key=e.key)) for e in selectors.event_list()]
    return render(request, "telemetry/race_list.html", {"races": races})


@require_GET
def race_dashboard(request, event_key: str):
    race = _race_or_404(event_key)
    page = pages.dashboard(race, requested=request.GET.getlist("driver"))
    data = {"race": page["race"], "drivers": page["drivers"], "charts": _chart_json(page["charts"])}
    return render(request, "telemetry/dashboard.html", {"page": page, "data": data})


@require_GET
def race_compare(request, event_key: str):
    race = _race_or_404(event_key)
    page = pages.comparison(race, a=request.GET.get("a", ""), b=request.GET.get("b", ""))
    data = {"race": page["race"], "pair": page.get("pair"), "charts": _chart_json(page["charts"])}
    return render(request, "telemetry/compare.html", {"page": page, "data": data})
