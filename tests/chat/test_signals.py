"""What chat tells listeners: once per finished reply, after it is stored, without waiting."""

from __future__ import annotations

import time

import pytest

from chat.models import ChatMessage
from chat.reply.lifecycle import replies_wait_idle
from chat.signals import (
    conversation_escalated,
    conversation_rated,
    reply_finished,
    signals_wait_idle,
)

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def heard():
    received: dict[str, list] = {"finished": [], "rated": [], "escalated": [], "stored": []}

    def on_finished(sender, reply, **kwargs):
        received["finished"].append(reply)
        # Sent after commit: the row is there, final, for a listener that reads it.
        received["stored"].append(ChatMessage.objects.get(id=reply.reply_id).status)

    def on_rated(sender, rating, **kwargs):
        received["rated"].append(rating)

    def on_escalated(sender, escalation, **kwargs):
        received["escalated"].append(escalation)

    reply_finished.connect(on_finished, dispatch_uid="test-finished")
    conversation_rated.connect(on_rated, dispatch_uid="test-rated")
    conversation_escalated.connect(on_escalated, dispatch_uid="test-escalated")
    yield received
    reply_finished.disconnect(dispatch_uid="test-finished")
    conversation_rated.disconnect(dispatch_uid="test-rated")
    conversation_escalated.disconnect(dispatch_uid="test-escalated")


async def test_a_finished_reply_is_signalled_once_with_what_listeners_need(
    connect, fake_provider, heard
):
    fake_provider.enqueue(["Opening ", "hours: nine.", ("usage", 30, 4)])
    client = await connect()
    await client.hello()
    await client.ask("When do you open?")
    done = (await client.receive_until("done"))[-1]
    await replies_wait_idle()  # the reply task signals after `done` has gone out
    await signals_wait_idle()

    [reply] = heard["finished"]
    assert heard["stored"] == ["complete"]
    assert reply.reply_id == done["message"] and reply.status == "complete"
    assert (reply.input_tokens, reply.output_tokens) == (30, 4)
    assert reply.asker.kind == "anonymous" and reply.asker.visitor_key == "visitor-a"
    assert reply.universe == "general" and reply.page_url == "/"
    assert reply.question == "When do you open?" and reply.provider == "fake"
    assert reply.ttft_ms is not None and reply.total_ms >= reply.ttft_ms
    assert reply.top_passage_score is None  # no passage: a knowledge gap


async def test_ratings_and_escalations_are_signalled(connect, fake_provider, heard):
    fake_provider.enqueue(["Here is how."])
    client = await connect()
    await client.hello()
    await client.ask("Can I talk to a real person?")
    await client.receive_until("done")
    await client.send({"type": "rate", "score": 2, "comment": "slow"})
    await client.send({"type": "ping"})
    assert (await client.receive())["type"] == "pong"
    await replies_wait_idle()  # the reply task signals after `done` has gone out
    await signals_wait_idle()

    [escalation] = heard["escalated"]
    assert escalation.reason == "asked"
    [rating] = heard["rated"]
    assert (rating.score, rating.comment) == (2, "slow")
    assert heard["finished"][0].escalation_reason == "asked"


async def test_a_slow_listener_does_not_delay_the_reply(connect, fake_provider):
    def slow(sender, reply, **kwargs):
        time.sleep(1.5)

    reply_finished.connect(slow, dispatch_uid="test-slow")
    try:
        fake_provider.enqueue(["Quick."])
        client = await connect()
        await client.hello()
        started = time.monotonic()
        await client.ask("Fast?")
        await client.receive_until("done")
        assert time.monotonic() - started < 1.0
    finally:
        await replies_wait_idle()
        await signals_wait_idle()
        reply_finished.disconnect(dispatch_uid="test-slow")
