"""Every operator page and endpoint refuses anyone who is not staff with the permission."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

PAGES = [
    ("get", "admin:chat_assistantsettings_changelist", ()),
    ("get", "admin:chat_assistantsettings_change", (1,)),
    ("post", "admin:chat_assistantsettings_change", (1,)),
    ("get", "admin:chat_assistantsettings_models", ()),
    ("get", "admin:chat_assistantsettings_history", (1,)),
]
ENDPOINTS = [
    ("get", "admin:chat_assistantsettings_effective", ()),
    ("get", "admin:chat_assistantsettings_health", ()),
    ("post", "admin:chat_assistantsettings_test_connection", ()),
    ("get", "admin:chat_assistantsettings_ollama", ()),
    ("post", "admin:chat_assistantsettings_pull", ()),
    ("post", "admin:chat_assistantsettings_show", ()),
    ("post", "admin:chat_assistantsettings_ollama_action", ("delete",)),
    ("post", "admin:chat_assistantsettings_ollama_action", ("load",)),
    ("post", "admin:chat_assistantsettings_ollama_action", ("unload",)),
    ("get", "admin:chat_assistantsettings_server_models", ("lmstudio",)),
    ("post", "admin:chat_assistantsettings_choose", ()),
]


def call(client, method, name, args):
    url = reverse(name, args=args)
    if method == "get":
        return client.get(url)
    return client.post(
        url, '{"model": "llama3.2", "server": "ollama"}', content_type="application/json"
    )


@pytest.fixture(params=["anonymous", "visitor", "staff_without_permission"])
def outsider(request, client, alice, django_user_model):
    if request.param == "visitor":
        client.force_login(alice)
    elif request.param == "staff_without_permission":
        staff = django_user_model.objects.create_user("sam", "sam@example.com", "x", is_staff=True)
        client.force_login(staff)
    client.kind = request.param
    return client


@pytest.mark.parametrize(("method", "name", "args"), PAGES)
def test_pages_refuse_outsiders(outsider, method, name, args):
    response = call(outsider, method, name, args)
    if outsider.kind == "staff_without_permission":
        assert response.status_code == 403
    else:
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize(("method", "name", "args"), ENDPOINTS)
def test_endpoints_refuse_outsiders_with_json(outsider, method, name, args, ollama):
    response = call(outsider, method, name, args)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert ollama.requests == []  # nothing reached the model server


def test_posts_need_the_csrf_token(operator, ollama):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = call(client, "post", "admin:chat_assistantsettings_pull", ())
    assert response.status_code == 403
    assert ollama.requests == []
