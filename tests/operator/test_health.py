"""The admin index's health panel: provider, breaker, Redis, the model in use, today's usage."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from chat.guards.breaker import breaker_for
from chat.guards.usage import daily_usage_add
from chat.identity import Owner
from tests.chat.providers.fake_servers import OpenAIServer

pytestmark = pytest.mark.django_db


def test_the_admin_index_carries_the_panel(operator_client):
    page = operator_client.get(reverse("admin:index"))
    assert b'id="operator-health"' in page.content
    assert re.search(rb'<script src="/static/operator/health\.[0-9a-f.]*js" defer>', page.content)
    assert b"<script>" not in page.content  # CSP: no inline script


def test_health_reports_provider_model_breakers_redis_and_usage(operator_client, settings):
    with OpenAIServer(models=["gpt-test"]) as server:
        settings.CHAT_PROVIDER = "openai"
        settings.OPENAI_BASE_URL = f"{server.url}/v1"
        settings.CHAT_MODEL = "gpt-test"
        breaker_for("openai").record_failure()
        from django.utils import timezone

        daily_usage_add(
            owner=Owner(user_id=None, visitor_key="v"),
            day=timezone.localdate(),
            messages=3,
            input_tokens=120,
            output_tokens=45,
        )
        data = operator_client.get(reverse("admin:chat_assistantsettings_health")).json()
    assert data["provider"]["reachable"] is True
    assert data["provider"]["model"] == "gpt-test" and data["provider"]["model_listed"] is True
    assert data["breakers"]["openai"]["consecutive_failures"] == 1
    assert data["redis"]["configured"] is bool(settings.REDIS_URL)
    assert data["usage"]["messages"] == 3 and data["usage"]["output_tokens"] == 45
    assert data["settings"]["api_key"] == "not set"


def test_an_unreachable_provider_is_reported_with_why(operator_client, settings):
    settings.CHAT_PROVIDER = "openai"
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    settings.CHAT_MODEL = "m"
    data = operator_client.get(reverse("admin:chat_assistantsettings_health")).json()
    assert data["provider"]["reachable"] is False and data["provider"]["detail"]
