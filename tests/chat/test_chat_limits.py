"""Limits, quotas, the response cache and the circuit breaker, through the real consumer."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from channels.db import database_sync_to_async

from chat.guards import quotas
from chat.guards.breaker import breaker_for
from chat.models import ChatMessage
from chat.providers import ErrorKind, ProviderError

pytestmark = [pytest.mark.django_db(transaction=True)]


@database_sync_to_async
def count(**filters) -> int:
    return ChatMessage.objects.filter(**filters).count()


async def test_a_burst_never_gets_more_than_the_rate_limit_through(
    connect, fake_provider, settings
):
    settings.CHAT_RATE_LIMIT = "3/minute"
    clients = [await connect(visitor_key="burst") for _ in range(6)]
    for client in clients:
        await client.hello()
    await asyncio.gather(*(c.ask(f"Question {i}") for i, c in enumerate(clients)))
    first = [await c.receive() for c in clients]
    accepted = [e for e in first if e["type"] == "ack"]
    refused = [e for e in first if e["type"] == "error"]
    assert len(accepted) == 3 and len(refused) == 3
    assert {e["code"] for e in refused} == {"rate_limited"}
    assert all(0 < e["retry_after"] <= 60 for e in refused)
    for client, event in zip(clients, first, strict=True):
        if event["type"] == "ack":
            await client.receive_until("done")
    assert await count(role="user") == 3


async def test_two_visitors_each_have_their_own_budget(connect, fake_provider, settings):
    settings.CHAT_RATE_LIMIT = "1/minute"
    settings.CHAT_RATE_LIMIT_IP = ""
    for key in ("one", "two"):
        client = await connect(visitor_key=key)
        await client.hello()
        await client.ask("Hi")
        assert (await client.receive())["type"] == "ack"
        await client.receive_until("done")
        await client.ask("Again")
        assert (await client.receive())["code"] == "rate_limited"


async def test_an_exhausted_daily_quota_is_refused_before_the_call(
    connect, fake_provider, settings
):
    settings.CHAT_QUOTA_ANON_MESSAGES = 1
    client = await connect()
    await client.hello(timezone="Asia/Tokyo")
    await client.ask("First")
    events = await client.receive_until("done")
    usage = next(e for e in events if e["type"] == "usage")
    assert usage["messages_used"] == 1 and usage["messages_remaining"] == 0
    await client.ask("Second")
    error = await client.receive()
    assert error["code"] == "quota_exceeded" and 0 < error["retry_after"] <= 86400
    assert "midnight" in error["message"]
    assert len(fake_provider.calls) == 1
    assert await count(role="user") == 1


async def test_the_quota_counts_the_tokens_the_provider_reported(connect, fake_provider):
    fake_provider.enqueue(["Counted", ("usage", 40, 7)])
    client = await connect()
    await client.hello()
    await client.ask("Cost?")
    await client.receive_until("done")
    owner = client_owner("visitor-a")
    snapshot = await quotas.usage_snapshot(owner=owner, tz=None)
    assert (snapshot["input_tokens_used"], snapshot["output_tokens_used"]) == (40, 7)


def client_owner(key):
    from chat.identity import Owner

    return Owner(user_id=None, visitor_key=key)


async def test_a_cache_hit_makes_no_provider_call_and_is_still_stored(connect, fake_provider):
    fake_provider.enqueue(["Opening", " hours", " are", " nine", " to", " five.", ("usage", 9, 6)])
    first = await connect(visitor_key="first")
    await first.hello()
    await first.ask("What are your opening hours?")
    original = await first.receive_until("done")
    second = await connect(visitor_key="second")
    await second.hello()
    await second.ask("what are your opening hours")
    events = await second.receive_until("done")
    assert len(fake_provider.calls) == 1
    assert events[-1]["cached"] is True and original[-1]["cached"] is False
    text = "".join(e["text"] for e in events if e["type"] == "token")
    assert text == "Opening hours are nine to five."
    reply = await database_sync_to_async(
        lambda: ChatMessage.objects.get(session_id=second.session, role="assistant")
    )()
    assert (reply.cached, reply.text, reply.output_tokens) == (True, text, 0)
    usage = await quotas.usage_snapshot(owner=client_owner("second"), tz=None)
    assert usage["messages_used"] == 1 and usage["tokens_used"] == 0


async def test_a_follow_up_and_a_question_with_context_are_never_cached(connect, fake_provider):
    client = await connect(visitor_key="ctx")
    await client.hello()
    await client.ask("Explain this chart", context={"chart": "lap times", "driver": "VER"})
    await client.receive_until("done")
    other = await connect(visitor_key="ctx2")
    await other.hello()
    await other.ask("Explain this chart", context={"chart": "lap times", "driver": "VER"})
    events = await other.receive_until("done")
    assert events[-1]["cached"] is False
    assert len(fake_provider.calls) == 2


async def test_the_breaker_opens_after_repeated_failures_and_closes_after_a_probe(
    connect, fake_provider, settings
):
    settings.CHAT_BREAKER_FAILURES = 2
    settings.CHAT_BREAKER_RESET = 0.3
    settings.CHAT_CACHE_TTL = 0
    down = ProviderError("down", kind=ErrorKind.UNAVAILABLE, retryable=True)
    fake_provider.enqueue([down])
    fake_provider.enqueue([down])
    client = await connect()
    await client.hello()
    for i in range(3):
        await client.ask(f"Try {i}")
        events = await client.receive_until("done")
        assert events[-1]["status"] == "complete"  # the offline answer stands in
    assert len(fake_provider.calls) == 2  # the third never reached the provider
    assert breaker_for("fake").snapshot()["state"] == "open"
    reply = await database_sync_to_async(
        lambda: ChatMessage.objects.filter(role="assistant").order_by("-created_at").first()
    )()
    assert reply.metadata["fallback_from"]["error"] == "circuit_open"
    await asyncio.sleep(0.35)
    fake_provider.enqueue(["Back"])
    await client.ask("Probe")
    events = await client.receive_until("done")
    assert "".join(e.get("text", "") for e in events if e["type"] == "token") == "Back"
    assert breaker_for("fake").snapshot()["state"] == "closed"


async def test_health_shows_the_breakers(client, fake_provider, settings):
    breaker_for("fake").record_failure()
    settings.HEALTH_TOKEN = "t"  # the details are for staff or a token (test_health_details.py)
    get = database_sync_to_async(client.get)
    health = json.loads((await get("/api/health/", headers={"Authorization": "Bearer t"})).content)
    assert health["breakers"]["fake"]["consecutive_failures"] == 1
    assert "redis" in health


async def test_refused_messages_can_be_retried_with_the_same_id(connect, fake_provider, settings):
    settings.CHAT_RATE_LIMIT = "1/minute"
    settings.CHAT_RATE_LIMIT_IP = ""
    client = await connect()
    await client.hello()
    await client.ask("One")
    await client.receive_until("done")
    retry_id = str(uuid.uuid4())
    await client.ask("Two", client_id=retry_id)
    refused = await client.receive()
    assert refused["code"] == "rate_limited" and refused["reply_to"] == retry_id
    assert await count(client_id=retry_id) == 0
