"""Conversation titles are made by the model after the first reply, in the background."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chat import services
from chat.identity import Owner
from chat.models import ChatSession
from chat.providers import ErrorKind, ProviderError
from chat.signals import Asker, FinishedReply, reply_finished
from chat.titles import title_clean

pytestmark = [pytest.mark.django_db]


def first_exchange(question: str = "hi, what time do you open on saturdays please?"):
    session = services.session_create(owner=Owner(None, "visitor-a"))
    exchange = services.exchange_begin(session=session, client_id="c-1", text=question)
    services.message_finish(message_id=exchange.reply.id, status="complete", text="At nine.")
    return session, exchange


def finished(session, exchange, **overrides) -> FinishedReply:
    values = dict(
        reply_id=str(exchange.reply.id), question_id=str(exchange.question.id),
        session_id=str(session.id), asker=Asker(None, "visitor-a", "anonymous"),
        question=exchange.question.text, status="complete", provider="fake", model="fake-model",
        universe="", page_url="", input_tokens=10, output_tokens=3, usage_estimated=False,
        ttft_ms=5, total_ms=10, cached=False, fallback=False, error_code="",
        finished_at=datetime.now(UTC),
    )  # fmt: skip
    return FinishedReply(**{**values, **overrides})


def title_of(session) -> str:
    return ChatSession.objects.get(pk=session.pk).title


def test_the_model_titles_the_conversation_after_its_first_reply(fake_provider):
    session, exchange = first_exchange()
    assert title_of(session) == "hi, what time do you open on saturdays please?"  # first words
    fake_provider.enqueue(['"Saturday', " opening", ' hours."'])

    reply_finished.send(sender="chat", reply=finished(session, exchange))

    assert title_of(session) == "Saturday opening hours"
    prompt = fake_provider.calls[-1]
    assert "title" in prompt[0].content and "saturdays" in prompt[1].content


def test_the_first_words_stay_when_the_model_fails(fake_provider):
    session, exchange = first_exchange()
    fake_provider.enqueue([ProviderError("down", kind=ErrorKind.UNAVAILABLE, retryable=False)])

    reply_finished.send(sender="chat", reply=finished(session, exchange))

    assert title_of(session) == "hi, what time do you open on saturdays please?"


def test_a_rename_is_never_overwritten(fake_provider):
    session, exchange = first_exchange()
    services.session_update(session=session, title="My own name")
    fake_provider.enqueue(["Model title"])

    reply_finished.send(sender="chat", reply=finished(session, exchange))

    assert title_of(session) == "My own name"
    assert fake_provider.calls == []  # not even asked


def test_only_the_first_complete_reply_makes_a_title(fake_provider):
    session, exchange = first_exchange()
    reply_finished.send(sender="chat", reply=finished(session, exchange, status="stopped"))
    services.exchange_begin(session=session, client_id="c-2", text="and sundays?")
    reply_finished.send(sender="chat", reply=finished(session, exchange))

    assert fake_provider.calls == []


@pytest.mark.parametrize(
    ("raw", "title"),
    [
        ("Title: Saturday hours.", "Saturday hours"),
        ("**Refund policy**\n\nmore text", "Refund policy"),
        ("one two three four five six seven eight nine ten", ""),
        ("   ", ""),
    ],
)
def test_the_models_answer_is_cleaned_or_refused(raw, title):
    assert title_clean(raw) == title
