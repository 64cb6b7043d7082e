"""Finding 12: /api/health/ and /api/chat/models/ tell anonymous callers the status and the
model ids only; hosts, errors and breakers need a staff session or a `HEALTH_TOKEN` bearer."""

from __future__ import annotations

import pytest

from chat.guards.breaker import breakers_reset
from chat.health import _provider_probe

# Async views reach the database through sync_to_async: transactional (see test_rest.py).
pytestmark = pytest.mark.django_db(transaction=True)

DOWN_URL = "http://127.0.0.1:9/v1"  # nothing listens on the discard port
TOKEN = "health-token-for-tests"


@pytest.fixture
def model_server_down(settings):
    settings.CHAT_PROVIDER = "openai"
    settings.OPENAI_BASE_URL = DOWN_URL
    settings.CHAT_MODEL = "some-model"
    _provider_probe.clear()
    breakers_reset()
    yield
    _provider_probe.clear()


@pytest.fixture
def staff_client(client, django_user_model):
    staff = django_user_model.objects.create_user("ops", "ops@example.com", "pw", is_staff=True)
    client.force_login(staff)
    return client


def test_anonymous_callers_get_the_status_only(client):
    response = client.get("/api/health/")
    assert response.status_code == 200
    assert response.json() == {"status": response.json()["status"]}
    assert response.json()["status"] in {"ok", "degraded"}


def test_nothing_internal_reaches_an_anonymous_caller_when_the_model_server_is_down(
    client, model_server_down
):
    health = client.get("/api/health/")
    assert health.json() == {"status": "degraded"}
    models = client.get("/api/chat/models/")
    assert models.status_code == 503
    assert models.json()["error"]["code"] == "provider_unavailable"
    for body in (health.content, models.content):
        assert b"127.0.0.1" not in body and b":9" not in body and b"openai" not in body.lower()


def test_staff_see_the_details_and_why_the_model_server_is_down(staff_client, model_server_down):
    health = staff_client.get("/api/health/").json()
    assert health["status"] == "degraded"
    assert health["provider"]["reachable"] is False and health["provider"]["name"] == "openai"
    assert {"database", "cache", "channel_layer", "breakers", "redis"} <= set(health)
    models = staff_client.get("/api/chat/models/")
    assert models.status_code == 503 and "127.0.0.1:9" in models.json()["error"]["message"]


def test_a_bearer_token_sees_the_details(client, settings):
    settings.HEALTH_TOKEN = TOKEN
    health = client.get("/api/health/", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert health["database"] == "ok" and health["provider"]["name"] == "offline"
    models = client.get("/api/chat/models/", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert models["models"][0]["id"] == "knowledge-base" and "owned_by" in models["models"][0]


@pytest.mark.parametrize("header", ["Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", ""])
def test_a_wrong_token_gets_the_status_only(client, settings, header):
    settings.HEALTH_TOKEN = TOKEN
    health = client.get("/api/health/", headers={"Authorization": header} if header else {})
    assert set(health.json()) == {"status"}


def test_an_empty_health_token_lets_no_bearer_in(client, settings):
    settings.HEALTH_TOKEN = ""
    health = client.get("/api/health/", headers={"Authorization": "Bearer "})
    assert set(health.json()) == {"status"}


def test_anonymous_callers_get_the_model_ids_without_owners(client):
    models = client.get("/api/chat/models/").json()
    assert models["provider"] == "offline" and models["active"]
    assert models["models"] == [{"id": "knowledge-base"}]


def test_a_signed_in_visitor_who_is_not_staff_gets_the_status_only(client, alice):
    client.force_login(alice)
    assert set(client.get("/api/health/").json()) == {"status"}


def test_a_database_outage_is_still_a_503_for_anonymous_callers(client, monkeypatch):
    monkeypatch.setattr("chat.health._database_ok", lambda: False)
    response = client.get("/api/health/")
    assert response.status_code == 503 and response.json() == {"status": "error"}
