"""The dashboard and its CSV exports (pages of the admin site), and GET /metrics.

The admin pages are reached through analytics/admin.py, which wraps them in the admin site's
login and checks the `analytics.view_dashboard` permission.
"""

from __future__ import annotations

import hmac
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from analytics import metrics
from analytics.forms import FilterForm
from analytics.selectors import dashboard as figures
from analytics.selectors.export import KINDS, achunks, export_chunks
from analytics.services.events import RESOLVED_DEFINITION

PERMISSION = "analytics.view_dashboard"
LOOPBACK = frozenset({"127.0.0.1", "::1"})


def _number(value):
    if isinstance(value, Decimal):
        return float(round(value, 6))
    return value


def _days(rows: list[dict]) -> list[str]:
    return [row["day"].isoformat() for row in rows]


def _series(label: str, rows: list[dict], key: str, **extra) -> dict:
    return {"label": label, "data": [_number(row[key]) for row in rows], **extra}


def charts_of(data: dict, *, currency: str) -> list[dict]:
    """What dashboard.js draws: one spec per chart (the page prints the same rows as tables)."""
    daily = data["daily"]
    days = _days(daily)
    totals = data["totals"]
    return [
        {"id": "volume", "type": "bar", "labels": days, "datasets": [
            _series("Conversations", daily, "conversations"),
            _series("Messages", daily, "messages")]},
        {"id": "ttft", "type": "line", "labels": days, "unit": "ms", "datasets": [
            _series("p50 (ms)", daily, "ttft_p50"), _series("p95 (ms)", daily, "ttft_p95")]},
        {"id": "tokens", "type": "bar", "labels": days, "datasets": [
            _series("Input tokens", daily, "input_tokens", stack="tokens"),
            _series("Output tokens", daily, "output_tokens", stack="tokens"),
            _series(f"Cost ({currency})", daily, "cost", type="line", yAxisID="y1")]},
        {"id": "models", "type": "bar", "labels": [
            f"{r['provider']}/{r['model']}" for r in data["models"]], "datasets": [
            {"label": f"Cost ({currency})", "data": [_number(r["cost"]) for r in data["models"]]},
            {"label": "Tokens (thousands)", "yAxisID": "y1", "data": [
                round(((r["input_tokens"] or 0) + (r["output_tokens"] or 0)) / 1000, 1)
                for r in data["models"]]}]},
        {"id": "ratings", "type": "bar", "labels": [str(r["score"]) for r in totals["ratings"]],
         "datasets": [{"label": "Conversations", "data": [r["count"] for r in totals["ratings"]]}]},
        {"id": "rates", "type": "line", "labels": days, "unit": "%", "datasets": [
            _series("Escalated (%)", daily, "escalation_rate"),
            _series("Resolved (%)", daily, "resolution_rate")]},
        {"id": "grounded", "type": "line", "labels": days, "unit": "%", "datasets": [
            _series("Grounded replies (%)", daily, "grounded_share")]},
        {"id": "topics", "type": "bar", "horizontal": True,
         "labels": [r["key"] for r in data["topics"]],
         "datasets": [{"label": "Replies", "data": [r["count"] for r in data["topics"]]}]},
        {"id": "pages", "type": "bar", "horizontal": True,
         "labels": [r["key"] for r in data["pages"]],
         "datasets": [{"label": "Questions", "data": [r["count"] for r in data["pages"]]}]},
    ]  # fmt: skip


def dashboard_view(request, *, admin_site) -> TemplateResponse:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    form = FilterForm(request.GET)
    filters = form.filters()
    data = figures.dashboard(filters)
    currency = settings.ANALYTICS_CURRENCY
    context = {
        **admin_site.each_context(request),
        "title": "Analytics dashboard",
        "form": form,
        "filters": filters,
        "data": data,
        "charts": charts_of(data, currency=currency),
        "currency": currency,
        "resolved_definition": RESOLVED_DEFINITION,
        "export_kinds": KINDS,
        "spenders": [
            ("Today", data["costliest_today"]),
            ("This week (since Monday)", data["costliest_week"]),
        ],
    }
    return TemplateResponse(request, "admin/analytics/dashboard.html", context)


def export_view(request, kind: str) -> StreamingHttpResponse:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    if kind not in KINDS:
        raise PermissionDenied
    filters = FilterForm(request.GET).filters()
    chunks = export_chunks(kind, filters)
    if isinstance(request, ASGIRequest):  # daphne: a sync iterator would be read whole first
        chunks = achunks(chunks)
    response = StreamingHttpResponse(chunks, content_type="text/csv")
    name = f"concierge-{kind}-{filters.start:%Y%m%d}-{filters.end:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _metrics_allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)
    return request.META.get("REMOTE_ADDR", "") in LOOPBACK


@require_GET
def metrics_view(request) -> HttpResponse:
    """Prometheus' text format; with METRICS_TOKEN only for its bearer, else loopback only."""
    if not _metrics_allowed(request):
        response = HttpResponse("Forbidden: send the METRICS_TOKEN as a bearer token.\n",
                                status=403, content_type="text/plain")  # fmt: skip
        if settings.METRICS_TOKEN:
            response.status_code = 401
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics.metrics_text(), content_type=metrics.CONTENT_TYPE)

