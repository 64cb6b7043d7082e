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
from tests.chat.fakes import FakeProvider

pytestmark = [pytest.mark.django_db]


class TitleModel(FakeProvider):
    """The scripted fake, built the way the registry builds providers (key and base URL)."""

    @classmethod
    def from_settings(cls, **kwargs) -> TitleModel:
        return super().from_settings()


@pytest.fixture
def fake_provider(fake_provider, settings):
    settings.CHAT_PROVIDERS = {**settings.CHAT_PROVIDERS, "titles": f"{__name__}.TitleModel"}
    settings.CHAT_PROVIDER = "titles"
    settings.CHAT_TITLES_BY_MODEL = True  # the suite turns titles off for every other test
    return fake_provider


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


def test_titles_by_the_model_can_be_turned_off(fake_provider, settings):
    settings.CHAT_TITLES_BY_MODEL = False
    session, exchange = first_exchange()

    reply_finished.send(sender="chat", reply=finished(session, exchange))

    assert title_of(session) == "hi, what time do you open on saturdays please?"
    assert fake_provider.calls == []


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


@pytest.mark.django_db(transaction=True)
async def test_a_real_reply_gets_its_title_in_the_background_without_waiting_for_it(
    fake_provider, connect
):
    from channels.db import database_sync_to_async

    from chat.reply.lifecycle import replies_wait_idle
    from chat.signals import signals_wait_idle

    fake_provider.enqueue(["We open ", "at nine."])  # the reply
    fake_provider.enqueue([2.0, "Opening hours"])  # the title, from a slow model
    client = await connect()
    await client.hello()
    await client.ask("when do you open on saturday?")

    events = await client.receive_until("done", timeout=3)  # not held up by the slow title

    assert events[-1]["status"] == "complete"
    session_id = events[0].get("session") or client.session
    first_words = await database_sync_to_async(title_of)(ChatSession(pk=session_id))
    assert first_words == "when do you open on saturday?"
    await replies_wait_idle()  # the reply task signals after `done` has gone out
    await signals_wait_idle()
    assert await database_sync_to_async(title_of)(ChatSession(pk=session_id)) == "Opening hours"


def test_a_direct_call_leaves_no_provider_behind_on_its_own_loop(fake_provider, monkeypatch):
    import asyncio
    import os

    from asgiref.sync import SyncToAsync

    from chat import titles
    from chat.reply import generation

    closed = []
    monkeypatch.setattr(TitleModel, "aclose", lambda self: _note(closed), raising=False)
    # An earlier async test can leave this thread's asgiref loop behind, closed: not a server.
    gone = asyncio.new_event_loop()
    gone.close()
    monkeypatch.setattr(SyncToAsync.threadlocal, "main_event_loop", gone, raising=False)
    monkeypatch.setattr(SyncToAsync.threadlocal, "main_event_loop_pid", os.getpid(), raising=False)
    fake_provider.enqueue(["Opening hours"])
    before = len(generation._providers)

    assert titles.title_generate(question="when do you open?", answer="At nine.") == (
        "Opening hours"
    )
    assert closed == [True]  # its provider was closed with the call's loop
    assert len(generation._providers) == before  # and nothing pins that loop


async def test_on_the_servers_loop_titles_share_the_loops_provider(fake_provider):
    import asyncio

    from asgiref.sync import sync_to_async

    from chat import titles
    from chat.reply import generation

    fake_provider.enqueue(["Opening hours"])
    fake_provider.enqueue(["Prices"])
    made = [
        await sync_to_async(titles.title_generate, thread_sensitive=False)(question=q, answer="A.")
        for q in ("when do you open?", "how much?")
    ]

    assert made == ["Opening hours", "Prices"]
    assert len(generation._providers[asyncio.get_running_loop()]) == 1


async def _note(closed):
    closed.append(True)
