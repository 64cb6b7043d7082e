"""`manage.py check` says when analytics' settings cannot work as meant."""

from __future__ import annotations

from analytics.checks import metrics_guard_check, prices_check


def test_metrics_without_a_token_in_production_warn(settings):
    settings.DEBUG, settings.METRICS_TOKEN = False, ""
    (warning,) = metrics_guard_check()
    assert warning.id == "analytics.W001" and "--proxy-headers" in warning.hint
    settings.METRICS_TOKEN = "token"
    assert metrics_guard_check() == []


def test_a_malformed_price_is_an_error_that_names_the_model(settings):
    settings.ANALYTICS_PRICES = {"gpt-4o-mini": [0.15, 0.6], "claude-x": {"input": 3, "output": 15},
                                 "bad-model": [1], "worse": "free"}  # fmt: skip
    errors = prices_check()
    assert [e.id for e in errors] == ["analytics.E001", "analytics.E001"]
    assert "'bad-model'" in errors[0].msg and "'worse'" in errors[1].msg
