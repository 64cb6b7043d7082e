"""Personas and fixtures for the operator's controls."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import Permission

from chat.operator.overlay import overlay_reset
from tests.operator.fake_ollama import FakeOllama

API_KEY = "sk-operator-SECRET-0123456789abcdef"


@pytest.fixture(autouse=True)
def fresh_overlay(settings):
    """No operator overrides leak from one test into another (process memory or cache)."""
    from django.core.cache import cache

    from chat.operator.services import STAMP_CACHE_KEY

    overlay_reset()
    yield
    overlay_reset()
    try:
        cache.delete(STAMP_CACHE_KEY)
    except Exception:  # noqa: BLE001, S110 - a test that took the cache down
        pass


@pytest.fixture
def encryption_key(settings) -> str:
    key = Fernet.generate_key().decode()
    settings.CONCIERGE_ENCRYPTION_KEY = key
    return key


@pytest.fixture
def operator(django_user_model):
    """A superuser: every permission."""
    return django_user_model.objects.create_superuser("olga", "olga@example.com", "olga-password")


@pytest.fixture
def viewer(django_user_model):
    """Staff who may view the assistant settings, nothing more."""
    user = django_user_model.objects.create_user(
        "victor", "victor@example.com", "victor-password", is_staff=True
    )
    user.user_permissions.add(Permission.objects.get(codename="view_assistantsettings"))
    return user


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def ollama(settings):
    with FakeOllama() as server:
        settings.OLLAMA_BASE_URL = server.url
        yield server
