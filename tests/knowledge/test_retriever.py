"""The retriever contract chat relies on (chat/retrieval.py), and the offline provider."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.db import connections

from chat.providers.base import GenerationOptions, PromptMessage
from chat.providers.offline import BODY_LIMIT, NOTHING_FOUND, OfflineProvider, shorten
from chat.reply import retrieval
from knowledge.search import retrieve_passages
from tests.knowledge.conftest import make_entry

pytestmark = pytest.mark.django_db(transaction=True)


def test_passages_follow_the_contract_best_first(help_center):
    passages = retrieve_passages("I forgot my password", limit=2)
    assert 1 <= len(passages) <= 2
    best = passages[0]
    entry = help_center["How do I reset my password?"]
    assert isinstance(best, retrieval.Passage)
    assert (best.id, best.title, best.category) == (str(entry.pk), entry.title, "account")
    assert best.url == f"/help/kb/{entry.pk}/"
    assert best.body == entry.body
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)
    assert best.as_source() == {"id": best.id, "title": best.title, "url": best.url}


def test_chat_reaches_the_retriever_through_settings(help_center, settings):
    settings.CHAT_RETRIEVER = "knowledge.search.retrieve_passages"
    retrieval._retriever.cache_clear()
    passages = retrieval.retrieve("track my parcel", category="shipping", limit=3)
    assert [p.title for p in passages] == ["Where is my parcel?"]
    assert retrieval.retrieve("What is the capital of France?") == []


def test_passages_carry_the_attribution_of_their_entry(db):
    make_entry("Gmail", "Undo send in Gmail", "Settings, then Undo send.", attribution="CC BY-SA")
    (passage,) = retrieve_passages("can I unsend an email in gmail", limit=1)
    assert passage.attribution == "CC BY-SA" and passage.search_mode == "hybrid"


@pytest.fixture
async def thread_connections():
    """Close the connection the provider's worker thread opened, before the test DB is dropped."""
    yield
    await database_sync_to_async(connections.close_all)()


async def ask_offline(question: str) -> str:
    """Retrieve as a reply does, then let the offline provider answer from those passages."""
    passages = await database_sync_to_async(retrieval.retrieve)(question, limit=3)
    provider = OfflineProvider().for_passages(passages)
    events = [
        e
        async for e in provider.stream(
            model="knowledge-base",
            messages=[PromptMessage("system", "Be nice."), PromptMessage("user", question)],
            options=GenerationOptions(),
        )
    ]
    assert events[-1].type == "done" and any(e.type == "usage" for e in events)
    return "".join(e.text for e in events if e.type == "token")


async def test_the_offline_provider_answers_from_the_best_entry_with_its_link(
    help_center, settings, thread_connections
):
    settings.CHAT_RETRIEVER = "knowledge.search.retrieve_passages"
    retrieval._retriever.cache_clear()
    entry = help_center["How do I reset my password?"]
    answer = await ask_offline("I can't remember my password")
    assert "without a language model" in answer and "help center" in answer
    assert "**How do I reset my password?**" in answer
    assert "Click **Forgot password** on the login page" in answer
    assert f"](/help/kb/{entry.pk}/)" in answer


async def test_the_offline_provider_says_so_when_nothing_matches(
    help_center, settings, thread_connections
):
    settings.CHAT_RETRIEVER = "knowledge.search.retrieve_passages"
    retrieval._retriever.cache_clear()
    assert await ask_offline("What is the capital of France?") == NOTHING_FOUND


def test_long_bodies_are_cut_at_a_paragraph_or_sentence_end():
    body = ("First paragraph is short.\n\n" + "Sentence number one is here. " * 40).strip()
    cut = shorten(body, BODY_LIMIT)
    assert len(cut) <= BODY_LIMIT + 2 and cut.endswith("here. …")
    fenced = "Intro.\n\n```\n" + "code line\n" * 100 + "```"
    assert shorten(fenced, 200).endswith("\n```")
    assert shorten("Short.", 100) == "Short."
