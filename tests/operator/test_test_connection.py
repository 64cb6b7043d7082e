"""The "test connection" endpoint: the real provider code against a fake OpenAI server."""

from __future__ import annotations

import pytest
from django.urls import reverse

from chat.providers.base import Timeouts
from chat.providers.openai import PLACEHOLDER_KEY
from tests.chat.providers.fake_servers import OpenAIServer, Reply, openai_error, openai_stream
from tests.operator.conftest import API_KEY
from tests.operator.test_settings_admin import form_data, post

pytestmark = pytest.mark.django_db

URL = reverse("admin:chat_assistantsettings_test_connection")


@pytest.fixture
def openai_server(settings):
    settings.CHAT_TIMEOUTS = {"connect": 2.0, "first_token": 3.0, "idle": 3.0}
    with OpenAIServer(models=["gpt-test"]) as server:
        yield server


def test_it_streams_a_short_answer_and_times_the_first_token(
    operator_client, openai_server, encryption_key
):
    openai_server.enqueue(Reply(frames=openai_stream(["It ", "works", "."], pause=0.15)))
    result = operator_client.post(
        URL,
        form_data(
            provider="openai", base_url=f"{openai_server.url}/v1", model="gpt-test", api_key=API_KEY
        ),
    ).json()
    assert result["ok"] is True, result
    assert result["text"] == "It works."
    assert 150 <= result["ttft_ms"] < 1500
    assert result["total_ms"] >= result["ttft_ms"] + 250  # two more pauses after the first token
    request = openai_server.posts[0]
    assert request.body["model"] == "gpt-test" and request.body["stream"] is True
    assert request.headers["authorization"] == f"Bearer {API_KEY}"  # the typed key, not stored


def test_a_refusal_is_reported_without_the_key(operator_client, openai_server, encryption_key):
    openai_server.enqueue(
        Reply(
            status=401,
            body=openai_error(
                f"Incorrect API key provided: {API_KEY}.", type="invalid_request_error",
                code="invalid_api_key",
            ),
        )
    )  # fmt: skip
    response = operator_client.post(
        URL,
        form_data(
            provider="openai", base_url=f"{openai_server.url}/v1", model="gpt-test", api_key=API_KEY
        ),
    )
    result = response.json()
    assert result["ok"] is False and result["kind"] == "authentication"
    assert "rejected the API key (HTTP 401)" in result["error"]
    assert API_KEY not in response.content.decode()


def test_the_stored_key_goes_only_to_the_stored_server(
    operator_client, openai_server, encryption_key, django_capture_on_commit_callbacks
):
    base = f"{openai_server.url}/v1"
    post(
        operator_client,
        django_capture_on_commit_callbacks,
        provider="openai",
        base_url=base,
        model="gpt-test",
        api_key=API_KEY,
    )
    with OpenAIServer(models=["gpt-test"]) as elsewhere:
        for server in (openai_server, elsewhere):
            server.enqueue(Reply(frames=openai_stream(["ok"])))
        operator_client.post(URL, form_data(provider="openai", base_url=base, model="gpt-test"))
        other = f"{elsewhere.url}/v1"
        operator_client.post(URL, form_data(provider="openai", base_url=other, model="gpt-test"))
        assert openai_server.posts[0].headers["authorization"] == f"Bearer {API_KEY}"
        assert elsewhere.posts[0].headers["authorization"] == f"Bearer {PLACEHOLDER_KEY}"


def test_invalid_form_values_are_reported_by_field(operator_client):
    response = operator_client.post(URL, form_data(temperature="9"))
    assert response.status_code == 400
    assert "temperature" in response.json()["fields"]


def test_an_unreachable_server_is_reported(operator_client, settings):
    settings.CHAT_TIMEOUTS = Timeouts(connect=1.0).__dict__
    result = operator_client.post(
        URL, form_data(provider="openai", base_url="http://127.0.0.1:9/v1", model="m")
    ).json()
    assert result["ok"] is False and result["kind"] == "unavailable"
