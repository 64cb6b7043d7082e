"""The overlay: admin values over the environment's, cheap, and fresh within a second."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from structlog.testing import capture_logs

from chat.config import assistant_config, env_config
from chat.operator import overlay
from chat.operator.models import AssistantSettings
from chat.operator.services import STAMP_CACHE_KEY, settings_update
from tests.operator.conftest import API_KEY

pytestmark = pytest.mark.django_db


def save(django_capture_on_commit_callbacks, **values):
    api_key = values.pop("api_key", "")
    with django_capture_on_commit_callbacks(execute=True):
        return settings_update(values=values, api_key=api_key)


def test_without_saved_settings_the_environment_rules():
    assert assistant_config() == env_config()


def test_saved_values_override_the_environment_and_empty_ones_do_not(
    django_capture_on_commit_callbacks, settings
):
    save(
        django_capture_on_commit_callbacks,
        model="qwen2.5:0.5b",
        base_url="http://127.0.0.1:11434/v1",
        temperature=0.7,
        top_k=40,
        stop=["</s>"],
        context_window=8192,
        rate_limit="off",
        quota_anon_messages=5,
        visitor_models=["llama3.2", "qwen2.5:0.5b"],
        tone="",
    )
    config = assistant_config()
    assert config.model == "qwen2.5:0.5b"
    assert config.base_url == "http://127.0.0.1:11434/v1"
    assert config.provider == settings.CHAT_PROVIDER  # empty: the environment's
    assert config.tone == settings.CONCIERGE_TONE
    assert config.generation["temperature"] == 0.7
    assert config.generation["top_k"] == 40
    assert config.generation["stop"] == ("</s>",)
    assert config.generation["max_tokens"] == settings.CHAT_GENERATION["max_tokens"]
    assert config.context_window == 8192
    assert config.limits["rate_limit"] == ""  # "off"
    assert config.limits["quota_anon_messages"] == 5
    assert config.limits["quota_user_messages"] == settings.CHAT_QUOTA_USER_MESSAGES
    assert config.visitor_models == ("llama3.2", "qwen2.5:0.5b")
    assert config.profile == "large"  # another model than the embedded one


def test_another_process_change_is_seen_at_the_next_check_and_not_before(
    django_capture_on_commit_callbacks, settings
):
    settings.CHAT_CONFIG_CHECK_SECONDS = 0.3
    save(django_capture_on_commit_callbacks, model="first")
    assert assistant_config().model == "first"
    # What another process's save leaves behind: a new row and a new stamp in the cache.
    AssistantSettings.objects.update(model="second", stamp="from-elsewhere")
    cache.set(STAMP_CACHE_KEY, "from-elsewhere", timeout=None)
    assert assistant_config().model == "first"  # within the check interval: memory only
    time.sleep(0.35)
    assert assistant_config().model == "second"


def test_the_process_that_saved_sees_its_change_at_once(
    django_capture_on_commit_callbacks, settings
):
    settings.CHAT_CONFIG_CHECK_SECONDS = 60
    save(django_capture_on_commit_callbacks, model="first")
    assert assistant_config().model == "first"
    save(django_capture_on_commit_callbacks, model="second")
    assert assistant_config().model == "second"


def test_a_stamp_already_loaded_costs_no_database_read(
    django_capture_on_commit_callbacks, django_assert_num_queries, settings
):
    settings.CHAT_CONFIG_CHECK_SECONDS = 0
    save(django_capture_on_commit_callbacks, model="cheap")
    assistant_config()
    with django_assert_num_queries(0):
        for _ in range(100):
            assert assistant_config().model == "cheap"


def test_calls_within_the_interval_touch_neither_cache_nor_database(
    django_capture_on_commit_callbacks, django_assert_num_queries, settings, monkeypatch
):
    settings.CHAT_CONFIG_CHECK_SECONDS = 60
    save(django_capture_on_commit_callbacks, model="cheap")
    assistant_config()
    reads = []
    real_get = overlay.cache.get
    monkeypatch.setattr(overlay.cache, "get", lambda *a, **k: reads.append(a) or real_get(*a, **k))
    started = time.perf_counter()
    with django_assert_num_queries(0):
        for _ in range(1000):
            assistant_config()
    per_call_us = (time.perf_counter() - started) * 1000
    assert reads == []
    assert per_call_us < 1000, f"{per_call_us:.1f} µs per call"  # ~85 µs measured, shared CPU


def test_a_missing_stamp_in_the_cache_falls_back_to_the_database(
    django_capture_on_commit_callbacks, settings
):
    settings.CHAT_CONFIG_CHECK_SECONDS = 0
    save(django_capture_on_commit_callbacks, model="from-db")
    cache.delete(STAMP_CACHE_KEY)
    overlay.overlay_reset()
    assert assistant_config().model == "from-db"
    assert cache.get(STAMP_CACHE_KEY)  # seeded again for the other processes


def test_an_unreadable_cache_falls_back_to_the_database(
    django_capture_on_commit_callbacks, settings, monkeypatch
):
    settings.CHAT_CONFIG_CHECK_SECONDS = 0
    save(django_capture_on_commit_callbacks, model="before")

    def broken(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(overlay.cache, "get", broken)
    monkeypatch.setattr(overlay.cache, "add", broken)
    with django_capture_on_commit_callbacks(execute=False):
        settings_update(values={"model": "after"})  # committed, stamp never published
    assert assistant_config().model == "after"


@pytest.mark.django_db(transaction=True)
async def test_it_reads_the_database_off_the_event_loop(settings):
    """A reply calls assistant_config() inside the event loop, where the ORM refuses to run."""
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(settings_update)(values={"model": "async-ok"})
    assert assistant_config().model == "async-ok"
    await sync_to_async(connections.close_all)()  # the helper thread's own connection


def test_an_undecryptable_key_keeps_the_environment_key(
    django_capture_on_commit_callbacks, settings, encryption_key
):
    save(django_capture_on_commit_callbacks, model="m", api_key=API_KEY)
    assert assistant_config().api_key == API_KEY
    from cryptography.fernet import Fernet

    settings.CONCIERGE_ENCRYPTION_KEY = Fernet.generate_key().decode()  # the old key lost
    overlay.overlay_reset()
    with capture_logs() as logs:
        config = assistant_config()
    assert config.api_key == "" and config.model == "m"
    assert any(e["event"] == "assistant_api_key_unreadable" for e in logs)
