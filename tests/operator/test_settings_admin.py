"""The assistant settings page in the admin: saving, validation, the write-only key."""

from __future__ import annotations

import logging

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from structlog.testing import capture_logs

from chat.config import assistant_config
from chat.operator.models import AssistantSettings
from tests.operator.conftest import API_KEY

pytestmark = pytest.mark.django_db

URL = reverse("admin:chat_assistantsettings_change", args=[1])


def form_data(**values) -> dict:
    """Every field as the browser sends it (empty: the environment's), plus `values`."""
    data = {
        name: ""
        for name in (
            "provider", "base_url", "model", "api_key", "temperature", "top_p", "top_k",
            "repeat_penalty", "context_window", "max_tokens", "stop", "profile", "site_name",
            "tone", "scope", "rate_limit", "rate_limit_ip", "quota_user_messages",
            "quota_user_input_tokens", "quota_user_output_tokens", "quota_anon_messages",
            "quota_anon_input_tokens", "quota_anon_output_tokens", "visitor_models",
            "visitor_options",
        )
    }  # fmt: skip
    data.update(values)
    data["_save"] = "Save"
    return data


def post(client, django_capture_on_commit_callbacks, **values):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(URL, form_data(**values))


def test_the_changelist_leads_to_the_one_row(operator_client):
    response = operator_client.get(reverse("admin:chat_assistantsettings_changelist"))
    assert response.status_code == 302 and response["Location"] == URL
    page = operator_client.get(URL)
    assert page.status_code == 200
    assert b"Test connection" in page.content
    assert b"Stored API key: <strong>not set</strong>" in page.content


def test_saving_overrides_what_the_next_reply_uses(
    operator_client, django_capture_on_commit_callbacks
):
    response = post(
        operator_client,
        django_capture_on_commit_callbacks,
        provider="openai",
        base_url="http://127.0.0.1:1234/v1/",
        model="lmstudio-community/qwen2.5-7b",
        temperature="0.9",
        stop="</s>\nUser:",
        visitor_options="temperature, top_p",
        rate_limit="5/minute",
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    config = assistant_config()
    assert config.base_url == "http://127.0.0.1:1234/v1"
    assert config.model == "lmstudio-community/qwen2.5-7b"
    assert config.generation["temperature"] == 0.9
    assert config.generation["stop"] == ("</s>", "User:")
    assert config.visitor_options == ("temperature", "top_p")
    assert config.limits["rate_limit"] == "5/minute"
    entry = LogEntry.objects.get()
    assert entry.user.username == "olga" and "Changed" in entry.get_change_message()


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"temperature": "3"}, "temperature", "Must be between 0 and 2"),
        ({"base_url": "127.0.0.1:1234"}, "base_url", "starts with http:// or https://"),
        ({"provider": "anthropic"}, "model", "Name the model for anthropic"),
        ({"rate_limit": "ten a minute"}, "rate_limit", "N/second, N/minute or N/hour"),
        ({"visitor_options": "temperature, seed"}, "visitor_options", "Unknown option seed"),
        ({"stop": "a\nb\nc\nd\ne"}, "stop", "At most 4 stop sequences"),
        ({"context_window": "2048", "max_tokens": "4096"}, "max_tokens", "must be below"),
        ({"api_key": "sk-short"}, "api_key", "CONCIERGE_ENCRYPTION_KEY is not set"),
    ],
)
def test_invalid_values_are_refused_with_a_clear_error(
    operator_client, django_capture_on_commit_callbacks, settings, values, field, message
):
    settings.CONCIERGE_ENCRYPTION_KEY = ""
    response = post(operator_client, django_capture_on_commit_callbacks, **values)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field]), errors
    assert not AssistantSettings.objects.exists()


def test_anthropic_without_any_key_is_refused(
    operator_client, django_capture_on_commit_callbacks, settings, encryption_key
):
    settings.ANTHROPIC_API_KEY = ""
    response = post(
        operator_client, django_capture_on_commit_callbacks, provider="anthropic", model="claude-x"
    )
    errors = response.context["adminform"].form.errors
    assert "Anthropic needs an API key" in errors["api_key"][0]


def test_the_key_is_stored_encrypted_and_never_shown_or_logged(
    operator_client, django_capture_on_commit_callbacks, encryption_key, caplog
):
    caplog.set_level(logging.DEBUG)
    with capture_logs() as logs:
        response = post(
            operator_client,
            django_capture_on_commit_callbacks,
            model="gpt-4o-mini",
            api_key=API_KEY,
        )
    assert response.status_code == 302
    row = AssistantSettings.objects.get()
    assert row.api_key_encrypted and API_KEY not in row.api_key_encrypted
    assert assistant_config().api_key == API_KEY  # the reply path gets it, decrypted

    page = operator_client.get(URL)
    assert b"Stored API key: <strong>set</strong>" in page.content
    assert API_KEY.encode() not in page.content
    assert row.api_key_encrypted.encode() not in page.content
    for name in ("effective", "health"):
        body = operator_client.get(reverse(f"admin:chat_assistantsettings_{name}")).content
        assert API_KEY.encode() not in body and row.api_key_encrypted.encode() not in body
    effective = operator_client.get(reverse("admin:chat_assistantsettings_effective")).json()
    assert effective["config"]["api_key_set"] is True and "api_key" not in effective["config"]
    for name in ("history", "models"):
        args = [1] if name == "history" else []
        body = operator_client.get(reverse(f"admin:chat_assistantsettings_{name}", args=args))
        assert API_KEY.encode() not in body.content
    assert API_KEY.encode() not in operator_client.get(reverse("admin:index")).content
    assert API_KEY not in repr(logs) and API_KEY not in caplog.text
    assert API_KEY not in repr(list(LogEntry.objects.values()))


def test_an_empty_key_field_keeps_the_stored_key_and_the_box_removes_it(
    operator_client, django_capture_on_commit_callbacks, encryption_key
):
    post(operator_client, django_capture_on_commit_callbacks, api_key=API_KEY)
    stored = AssistantSettings.objects.get().api_key_encrypted
    post(operator_client, django_capture_on_commit_callbacks, model="other")
    assert AssistantSettings.objects.get().api_key_encrypted == stored
    post(operator_client, django_capture_on_commit_callbacks, clear_api_key="on")
    assert AssistantSettings.objects.get().api_key_encrypted == ""


def test_nobody_adds_or_deletes_the_row(operator_client):
    assert operator_client.get(reverse("admin:chat_assistantsettings_add")).status_code == 403
    delete = reverse("admin:chat_assistantsettings_delete", args=[1])
    assert operator_client.get(delete).status_code in (403, 302)


def test_error_reports_hide_the_typed_key(rf, operator):
    from django.views.debug import SafeExceptionReporterFilter

    from chat.operator.views import test_connection

    request = rf.post(reverse("admin:chat_assistantsettings_test_connection"), {"api_key": API_KEY})
    request.user = operator
    request._dont_enforce_csrf_checks = True
    test_connection(request)
    cleaned = SafeExceptionReporterFilter().get_post_parameters(request)
    assert cleaned["api_key"] != API_KEY
