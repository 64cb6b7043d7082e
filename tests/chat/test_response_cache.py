"""The first-turn response cache: keys, hits, TTL, and a Redis that is down."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis
from django.core.cache import cache as django_cache
from structlog.testing import capture_logs

from chat import redis_pool
from chat.guards.cache import CachedReply, cache_get, cache_key, cache_put
from tests.services import free_port, require_redis

REPLY = CachedReply(
    text="We are open 9:00 to 17:00.",
    sources=[{"id": 3, "title": "Opening hours", "url": "/help/hours/"}],
    model="smollm2-135m-instruct",
    provider="openai",
)
BASE = {
    "universe": "general",
    "kb_version": "kb-7",
    "model": "smollm2-135m-instruct",
    "options": {"temperature": 0.3, "top_p": 0.9, "max_tokens": 512},
}


def key_for(text: str, **changes) -> str:
    return cache_key(text=text, **{**BASE, **changes})


@pytest.fixture(autouse=True)
def fresh_redis_state():
    redis_pool.redis_reset()
    yield
    redis_pool.redis_reset()


@pytest.fixture(params=["django", pytest.param("redis", marks=pytest.mark.services)])
async def store(request, settings):
    """Run the test against Django's local cache (no REDIS_URL) and a real Redis."""
    settings.CHAT_CACHE_TTL = 60
    keys: list[str] = []
    if request.param == "redis":
        settings.REDIS_URL = require_redis()
    else:
        settings.REDIS_URL = ""
    yield keys
    if request.param == "redis":
        await redis_pool.redis_close()
        client = redis.Redis.from_url(settings.REDIS_URL)
        if keys:
            client.delete(*keys)
        client.close()
    else:
        django_cache.delete_many(keys)


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex}"


# --- Keys -------------------------------------------------------------------------------------


def test_questions_differing_in_case_spacing_and_final_punctuation_share_a_key():
    assert key_for("What are your opening hours?") == key_for("  what ARE your\n opening hours ")
    assert key_for("Où êtes-vous ?!") == key_for("où êtes-vous")
    assert key_for("ＨＯＵＲＳ？") == key_for("ｈｏｕｒｓ")


def test_different_questions_get_different_keys():
    assert key_for("opening hours") != key_for("closing hours")
    assert key_for("is it free?") != key_for("it is free")


@pytest.mark.parametrize(
    "change",
    [
        {"universe": "telemetry"},
        {"kb_version": "kb-8"},
        {"model": "gpt-4o-mini"},
        {"options": {"temperature": 0.9, "top_p": 0.9, "max_tokens": 512}},
        {"options": {"temperature": 0.3, "top_p": 0.9}},
    ],
)
def test_a_different_universe_kb_version_model_or_options_is_a_different_key(change):
    assert key_for("opening hours") != key_for("opening hours", **change)


def test_option_order_does_not_matter():
    reordered = {"max_tokens": 512, "top_p": 0.9, "temperature": 0.3}
    assert key_for("hours") == key_for("hours", options=reordered)


# --- Storage, on both backends ------------------------------------------------------------------


async def test_a_put_reply_is_a_hit_for_the_same_question(store):
    question = unique("What are your hours?")
    key = key_for(question)
    store.append(key)
    assert await cache_get(key) is None
    await cache_put(key, REPLY)
    assert await cache_get(key_for(question.upper() + "  ?")) == REPLY


async def test_another_model_or_universe_misses(store):
    question = unique("hours")
    store.append(key_for(question))
    await cache_put(key_for(question), REPLY)
    assert await cache_get(key_for(question, model="other-model")) is None
    assert await cache_get(key_for(question, universe="telemetry")) is None
    assert await cache_get(key_for(question, kb_version="kb-8")) is None


async def test_an_entry_expires_after_the_ttl(store, settings):
    settings.CHAT_CACHE_TTL = 1
    key = key_for(unique("short-lived"))
    store.append(key)
    await cache_put(key, REPLY)
    assert await cache_get(key) == REPLY
    await asyncio.sleep(1.3)
    assert await cache_get(key) is None


async def test_a_zero_ttl_turns_the_cache_off(store, settings):
    settings.CHAT_CACHE_TTL = 0
    key = key_for(unique("off"))
    store.append(key)
    await cache_put(key, REPLY)
    settings.CHAT_CACHE_TTL = 60
    assert await cache_get(key) is None


@pytest.mark.services
async def test_a_corrupt_entry_is_a_miss(settings):
    settings.REDIS_URL = require_redis()
    settings.CHAT_CACHE_TTL = 60
    key = key_for(unique("corrupt"))
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.set(key, b"not json", ex=60)
    try:
        with capture_logs() as logs:
            assert await cache_get(key) is None
        assert [entry["event"] for entry in logs] == ["response_cache_corrupt_entry"]
    finally:
        client.delete(key)
        client.close()
        await redis_pool.redis_close()


# --- Redis down ---------------------------------------------------------------------------------


async def test_redis_down_is_a_miss_and_a_dropped_write_never_an_error(settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings.CHAT_CACHE_TTL = 60
    key = key_for(unique("down"))
    with capture_logs() as logs:
        await cache_put(key, REPLY)
        assert await cache_get(key) is None
        assert await cache_get(key) is None
    assert [entry["event"] for entry in logs] == ["redis_unavailable"]
    assert not redis_pool.redis_available()
    await redis_pool.redis_close()
