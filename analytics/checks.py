"""System checks for analytics' settings (`manage.py check`)."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def metrics_guard_check(app_configs=None, **kwargs):
    """Without METRICS_TOKEN, /metrics trusts the loopback address: behind a proxy on the same
    host every request looks local unless daphne runs with --proxy-headers."""
    if settings.DEBUG or settings.METRICS_TOKEN:
        return []
    return [
        Warning(
            "GET /metrics is guarded only by the loopback address.",
            hint="Set METRICS_TOKEN, or make sure a proxy on this host passes the client's "
            "address (daphne --proxy-headers), or every request will look local.",
            id="analytics.W001",
        )
    ]


@register()
def prices_check(app_configs=None, **kwargs):
    """Each ANALYTICS_PRICES entry is [input, output] or {"input", "output"}, numbers >= 0."""
    errors = []
    for model, entry in (settings.ANALYTICS_PRICES or {}).items():
        values = [entry.get("input"), entry.get("output")] if isinstance(entry, dict) else entry
        if not _two_prices(values):
            errors.append(
                Error(
                    f"ANALYTICS_PRICES[{model!r}] is {json.dumps(entry)}.",
                    hint='Give [input, output] per million tokens, e.g. {"gpt-4o-mini": '
                    "[0.15, 0.60]}.",
                    id="analytics.E001",
                )
            )
    return errors


def _two_prices(values) -> bool:
    if not isinstance(values, list | tuple) or len(values) != 2:
        return False
    return all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in values)
