"""The sliding-window rate limiter, in process and in a real Redis, with a controlled clock."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured

from chat import redis_pool
from chat.guards.limits import (
    REDIS_PREFIX,
    Rate,
    local_limits_clear,
    parse_rate,
    rate_limit_hit,
    rate_limit_keys,
)
from chat.identity import Owner
from tests.services import require_redis

T0 = 1_000_000.0  # a controlled "now", in seconds


@pytest.fixture(autouse=True)
def fresh_limiter():
    local_limits_clear()
    redis_pool.redis_reset()
    yield
    local_limits_clear()
    redis_pool.redis_reset()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.services)])
async def backend(request, settings):
    """Run the test on the in-process limiter and on a real Redis; yields a key maker."""
    tag = uuid.uuid4().hex
    if request.param == "redis":
        settings.REDIS_URL = require_redis()
        # A loaded machine is not an outage: on a starved CI machine a burst's connect once took
        # over the default 0.5 s, chat fell back to its in-process window mid-burst (as it
        # should when Redis is down), and the shared limit of 10 let 20 through.
        settings.REDIS_SOCKET_TIMEOUT = 3
    else:
        settings.REDIS_URL = ""
    settings.CHAT_RATE_LIMIT = "10/minute"
    settings.CHAT_RATE_LIMIT_IP = "30/minute"
    yield lambda name: f"{name}-{tag}"
    if request.param == "redis":
        await redis_pool.redis_close()
        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter(match=f"{REDIS_PREFIX}*{tag}*"):
            client.delete(key)
        client.close()


def visitor(key: str) -> Owner:
    return Owner(user_id=None, visitor_key=key)


# --- Keys and rates ---------------------------------------------------------------------------


def test_a_user_is_limited_as_a_user_whatever_the_address():
    keys = rate_limit_keys(owner=Owner(user_id=7, visitor_key="browser"), ip="203.0.113.5")
    assert keys == ["user:7"]


def test_an_anonymous_visitor_is_limited_as_a_visitor_and_by_ip():
    assert rate_limit_keys(owner=visitor("abc"), ip="203.0.113.5") == [
        "visitor:abc",
        "ip:203.0.113.5",
    ]
    assert rate_limit_keys(owner=visitor("abc"), ip=None) == ["visitor:abc"]


def test_ipv6_addresses_of_one_host_share_their_slash_64():
    first = rate_limit_keys(owner=visitor("a"), ip="2001:db8:1:2::1")[1]
    second = rate_limit_keys(owner=visitor("b"), ip="2001:db8:1:2:ffff::9")[1]
    other = rate_limit_keys(owner=visitor("c"), ip="2001:db8:1:3::1")[1]
    assert first == second == "ip:2001:db8:1:2::/64"
    assert other != first
    assert rate_limit_keys(owner=visitor("d"), ip="::ffff:198.51.100.7")[1] == "ip:198.51.100.7"


def test_it_parses_rates_per_second_minute_and_hour():
    assert parse_rate("10/minute") == Rate(limit=10, window=60.0)
    assert parse_rate(" 3 / Seconds ") == Rate(limit=3, window=1.0)
    assert parse_rate("500/hour") == Rate(limit=500, window=3600.0)
    assert parse_rate("") is None


@pytest.mark.parametrize("value", ["10", "ten/minute", "10/day", "0/minute", "10/minute/2"])
def test_it_refuses_a_malformed_rate_naming_it(value):
    with pytest.raises(ImproperlyConfigured, match="N/second"):
        parse_rate(value)


async def test_an_empty_rate_turns_the_limit_off(settings):
    settings.REDIS_URL = ""
    settings.CHAT_RATE_LIMIT = ""
    results = [await rate_limit_hit(keys=["visitor:unlimited"], now=T0) for _ in range(100)]
    assert all(decision.allowed for decision in results)


# --- The window, on both backends --------------------------------------------------------------


async def test_a_burst_of_50_concurrent_messages_lets_exactly_the_limit_through(backend):
    keys = [f"visitor:{backend('burst')}"]
    decisions = await asyncio.gather(*(rate_limit_hit(keys=keys) for _ in range(50)))
    assert sum(decision.allowed for decision in decisions) == 10
    refused = [decision for decision in decisions if not decision.allowed]
    assert all(decision.key == keys[0] for decision in refused)
    assert all(0 < decision.retry_after <= 60 for decision in refused)


async def test_two_visitors_each_get_their_own_budget(backend):
    alice, bob = [f"visitor:{backend('alice')}"], [f"visitor:{backend('bob')}"]
    burst = [rate_limit_hit(keys=keys, now=T0) for keys in (alice, bob) for _ in range(15)]
    decisions = await asyncio.gather(*burst)
    assert sum(d.allowed for d in decisions[:15]) == 10
    assert sum(d.allowed for d in decisions[15:]) == 10


async def test_retry_after_is_the_time_until_the_oldest_hit_leaves_the_window(backend):
    keys = [f"visitor:{backend('retry')}"]
    for i in range(10):
        assert (await rate_limit_hit(keys=keys, now=T0 + i)).allowed
    decision = await rate_limit_hit(keys=keys, now=T0 + 12.5)
    assert not decision.allowed
    assert decision.key == keys[0]
    assert decision.retry_after == pytest.approx(47.5, abs=0.001)


async def test_the_window_slides_one_hit_at_a_time(backend):
    keys = [f"visitor:{backend('slide')}"]
    for i in range(10):
        assert (await rate_limit_hit(keys=keys, now=T0 + i)).allowed
    assert not (await rate_limit_hit(keys=keys, now=T0 + 59.999)).allowed
    # At T0+60 the first hit leaves: exactly one more fits, then the next waits for T0+1's.
    assert (await rate_limit_hit(keys=keys, now=T0 + 60)).allowed
    refused = await rate_limit_hit(keys=keys, now=T0 + 60.2)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(0.8, abs=0.001)
    assert (await rate_limit_hit(keys=keys, now=T0 + 61)).allowed


async def test_a_refused_message_consumes_nothing_on_the_other_keys(backend, settings):
    settings.CHAT_RATE_LIMIT = "3/minute"
    settings.CHAT_RATE_LIMIT_IP = "5/minute"
    ip = f"ip:{backend('office')}"
    first, second = f"visitor:{backend('first')}", f"visitor:{backend('second')}"
    for _ in range(6):  # 3 allowed, 3 refused by the visitor key
        await rate_limit_hit(keys=[first, ip], now=T0)
    # Had the refusals counted against the shared IP, the second visitor would get fewer than 2.
    results = [await rate_limit_hit(keys=[second, ip], now=T0 + 1) for _ in range(3)]
    assert [d.allowed for d in results] == [True, True, False]
    assert results[-1].key == ip
    assert results[-1].retry_after == pytest.approx(59.0, abs=0.001)


async def test_the_longest_wait_among_refusing_keys_is_reported(backend, settings):
    settings.CHAT_RATE_LIMIT = "2/minute"
    settings.CHAT_RATE_LIMIT_IP = "2/hour"
    owner_key, ip = f"visitor:{backend('both')}", f"ip:{backend('both-ip')}"
    for i in range(2):
        assert (await rate_limit_hit(keys=[owner_key, ip], now=T0 + i)).allowed
    decision = await rate_limit_hit(keys=[owner_key, ip], now=T0 + 10)
    assert (decision.allowed, decision.key) == (False, ip)
    assert decision.retry_after == pytest.approx(3590.0, abs=0.001)


async def test_a_lowered_limit_waits_for_enough_hits_to_leave(backend, settings):
    keys = [f"visitor:{backend('lowered')}"]
    settings.CHAT_RATE_LIMIT = "5/minute"
    for i in range(5):
        await rate_limit_hit(keys=keys, now=T0 + i)
    settings.CHAT_RATE_LIMIT = "2/minute"
    decision = await rate_limit_hit(keys=keys, now=T0 + 10)
    # 5 hits in the window, room for 2: the hit at T0+3 must leave first.
    assert decision.retry_after == pytest.approx(53.0, abs=0.001)


# --- Redis specifics ---------------------------------------------------------------------------


@pytest.mark.services
async def test_the_budget_lives_in_redis_not_in_the_process(settings):
    settings.REDIS_URL = require_redis()
    settings.CHAT_RATE_LIMIT = "3/minute"
    key = f"visitor:shared-{uuid.uuid4().hex}"
    try:
        assert all([(await rate_limit_hit(keys=[key])).allowed for _ in range(3)])
        local_limits_clear()  # another process would start with empty memory, too
        refused = await rate_limit_hit(keys=[key])
        assert not refused.allowed
        client = redis.Redis.from_url(settings.REDIS_URL)
        assert client.zcard(REDIS_PREFIX + key) == 3
        assert 0 < client.pttl(REDIS_PREFIX + key) <= 60_000  # the set expires with its window
        client.delete(REDIS_PREFIX + key)
        client.close()
    finally:
        await redis_pool.redis_close()


@pytest.mark.services
async def test_it_reloads_the_script_after_redis_forgot_it(settings):
    settings.REDIS_URL = require_redis()
    key = f"visitor:flushed-{uuid.uuid4().hex}"
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        assert (await rate_limit_hit(keys=[key], now=T0)).allowed
        client.script_flush()  # a restarted Redis has no cached scripts
        assert (await rate_limit_hit(keys=[key], now=T0 + 1)).allowed
        assert client.zcard(REDIS_PREFIX + key) == 2
        assert redis_pool.redis_available()
    finally:
        client.delete(REDIS_PREFIX + key)
        client.close()
        await redis_pool.redis_close()
