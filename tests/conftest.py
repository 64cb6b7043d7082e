"""Fixtures shared by the whole suite: personas, real services, the real local model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chat.identity import Owner
from tests.services import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def collected_static_files():
    """Hashed, compressed static files in STATIC_ROOT, as production serves them."""
    from django.conf import settings

    from tests.static_files import static_collect

    sources = [Path(p) for p in settings.STATICFILES_DIRS]
    # The storage that minifies and hashes them too: a change there must collect again.
    sources.append(Path(settings.BASE_DIR) / "config" / "storages.py")
    static_collect(static_root=Path(settings.STATIC_ROOT), sources=sources)


@pytest.fixture(autouse=True)
def fresh_chat_state(settings):
    """Start every test with empty limiter windows, closed breakers and an empty answer cache."""
    from django.core.cache import cache

    from chat.guards.breaker import breakers_reset
    from chat.guards.limits import local_limits_clear
    from chat.redis_pool import redis_reset
    from knowledge.stamps import stamps_forget

    stamps_forget()  # a rolled-back test sends no post_delete
    local_limits_clear()
    breakers_reset()
    redis_reset()
    cache.clear()
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        for pattern in ("concierge:rl:*", "concierge:rc:*", "concierge:reply:*"):
            keys = list(client.scan_iter(pattern, count=500))
            if keys:
                client.delete(*keys)
        client.close()
    yield


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com", "alice-password")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", "bob@example.com", "bob-password")


@pytest.fixture
def alice_owner(alice) -> Owner:
    return Owner(user_id=alice.pk, visitor_key="alice-browser")


@pytest.fixture
def visitor_owner() -> Owner:
    return Owner(user_id=None, visitor_key="visitor-a")


@pytest.fixture
def other_visitor_owner() -> Owner:
    return Owner(user_id=None, visitor_key="visitor-b")


@pytest.fixture(scope="session")
def local_model_url(tmp_path_factory):
    """A real llama.cpp server with the SmolLM2 GGUF, for the whole test session.

    Yields its OpenAI-compatible base URL (`http://127.0.0.1:PORT/v1`).
    """
    from chat import local_model

    try:
        local_model.gguf_path()
        local_model.server_command(port=0)
    except local_model.LocalModelError as exc:
        pytest.fail(f"The local model cannot start: {exc}")
    port = free_port()
    log_path = tmp_path_factory.mktemp("local-model") / "server.log"
    process = local_model.start_server(port=port, log_path=log_path, n_ctx=2048)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        local_model.wait_ready(base_url=base_url, process=process, timeout=120)
    except local_model.LocalModelError as exc:
        local_model.stop_server(process)
        pytest.fail(f"{exc}\n{log_path.read_text()[-2000:]}")
    yield base_url
    local_model.stop_server(process)


def pytest_report_header(config):
    required = os.environ.get("REQUIRE_SERVICES") == "1"
    database = os.environ.get("DATABASE_URL", "sqlite (default)")
    redis = os.environ.get("REDIS_URL", "in-process (default)")
    return [
        f"concierge: database={database.split('@')[-1]} redis={redis.split('@')[-1]} "
        f"REQUIRE_SERVICES={'1' if required else '0'}"
    ]
