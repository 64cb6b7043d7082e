"""Answers grounded in the knowledge base: passages in the prompt, the `sources` event, stored
sources, and an honest "I don't know" when nothing matches. Real search, scripted model."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from chat.models import ChatMessage
from knowledge import services
from knowledge.models import KnowledgeBaseEntry
from knowledge.search import index

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def help_center(settings):
    settings.CHAT_RETRIEVER = "knowledge.search.retrieve_passages"
    index.clear()
    entries = services.entries_save(
        entries=[
            KnowledgeBaseEntry(
                category="account",
                title="How do I delete my account?",
                body="Open Settings, then Privacy, then *Delete account*. It cannot be undone.",
                keywords="remove, close account",
            ),
            KnowledgeBaseEntry(
                category="billing",
                title="How do I get a refund?",
                body="Write to support within 30 days; the money is back in five business days.",
                keywords="refund, money back",
            ),
        ]
    )
    yield {e.title: e for e in entries}
    index.clear()


async def test_the_reply_cites_the_entries_it_was_grounded_in(connect, fake_provider, help_center):
    fake_provider.enqueue(["Open Settings [1]."])
    client = await connect()
    await client.hello()
    await client.ask("How can I close my account for good?")
    events = await client.receive_until("done")

    entry = help_center["How do I delete my account?"]
    sources = next(e for e in events if e["type"] == "sources")
    assert sources["items"][0] == {
        "id": str(entry.pk),
        "title": entry.title,
        "url": entry_url(entry),
    }
    assert [e["type"] for e in events].index("sources") < [e["type"] for e in events].index("done")
    system = fake_provider.calls[0][0].content
    assert "[1] How do I delete my account?" in system and "Privacy" in system
    assert "cite them" in system
    reply = await database_sync_to_async(ChatMessage.objects.get)(
        session_id=client.session, role="assistant"
    )
    assert reply.sources == sources["items"]


def entry_url(entry: KnowledgeBaseEntry) -> str:
    from knowledge.search import entry_url as url_of

    return url_of(entry)


async def test_with_nothing_relevant_the_prompt_asks_for_honesty(
    connect, fake_provider, help_center
):
    client = await connect()
    await client.hello()
    await client.ask("What is the airspeed velocity of an unladen swallow?")
    events = await client.receive_until("done")
    assert "sources" not in [e["type"] for e in events]
    system = fake_provider.calls[0][0].content
    assert "say you don't know" in system and "support@example.com" in system


async def test_offline_answers_from_the_best_entry_with_its_link(connect, settings, help_center):
    settings.CHAT_PROVIDER = "offline"
    client = await connect()
    await client.hello()
    await client.ask("how do i get my money back")
    events = await client.receive_until("done")
    text = "".join(e["text"] for e in events if e["type"] == "token")
    entry = help_center["How do I get a refund?"]
    assert "help center" in text.lower() and "five business days" in text
    assert entry_url(entry) in text
    assert events[-1]["status"] == "complete"


async def test_offline_says_when_it_found_nothing(connect, settings, help_center):
    settings.CHAT_PROVIDER = "offline"
    client = await connect()
    await client.hello()
    await client.ask("Who won the 1966 World Cup final?")
    events = await client.receive_until("done")
    text = "".join(e["text"] for e in events if e["type"] == "token")
    assert "found nothing" in text.lower() or "couldn't find" in text.lower()


def test_sources_are_the_passages_the_reply_cites():
    from chat.reply.finish import cited_sources

    passages = [{"id": "1", "title": "A"}, {"id": "2", "title": "B"}, {"id": "3", "title": "C"}]
    assert cited_sources("See [3], then [1] and [3] again.", passages) == [passages[2], passages[0]]
    assert cited_sources("No citation here.", passages) == passages
    assert cited_sources("A made-up [7] reference.", passages) == passages
