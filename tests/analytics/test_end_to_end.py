"""A real reply through the WebSocket consumer lands in analytics (only the model is scripted)."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from analytics.models import ConversationFact, DailyRollup, GapQuestion, ReplyFact
from analytics.services.writer import writer_flush, writer_stop
from chat.reply.lifecycle import replies_wait_idle
from chat.signals import signals_wait_idle
from tests.chat.conftest import connect, fake_provider  # noqa: F401 - the chat fixtures

pytestmark = [pytest.mark.django_db(transaction=True)]


@database_sync_to_async
def recorded(reply_id):
    facts = list(ReplyFact.objects.filter(reply_id=reply_id))
    session_ids = [fact.session_id for fact in facts]
    return (
        facts,
        list(ConversationFact.objects.filter(session_id__in=session_ids)),
        DailyRollup.objects.count(),
        GapQuestion.objects.filter(reply_id=reply_id).count(),
    )


@pytest.fixture
def batching(settings):
    settings.ANALYTICS_FLUSH_MS = 60_000  # queued: recorded by the flush below, not in place
    yield
    writer_stop()


async def test_a_reply_through_the_consumer_is_recorded_once(connect, fake_provider, batching):  # noqa: F811
    fake_provider.enqueue(["Hel", "lo", ("usage", 1200, 300)])
    client = await connect(visitor_key="visitor-e2e")
    await client.hello()
    await client.ask("Do you ship to Iceland?")
    events = await client.receive_until("done")
    ack, done = events[0], events[-1]
    await replies_wait_idle()  # the reply's task signals after the client has `done`
    await signals_wait_idle()
    assert (await recorded(done["message"]))[0] == []  # queued for the writer
    await database_sync_to_async(writer_flush)()
    (fact,), (conversation,), rollups, gaps = await recorded(done["message"])
    assert str(fact.session_id) == ack["session"] and fact.status == "complete"
    assert (fact.provider, fact.model) == ("fake", "fake-model")
    assert (fact.input_tokens, fact.output_tokens) == (1200, 300)
    assert fact.user_type == "anonymous" and fact.visitor_key == "visitor-e2e"
    assert fact.ttft_ms is not None and fact.question == "Do you ship to Iceland?"
    assert fact.top_passage_score is None and fact.is_gap and gaps == 1  # no retriever here
    assert conversation.messages == 2 and conversation.replies == 1 and rollups == 1
