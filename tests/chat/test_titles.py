"""Conversation titles are made by the model after the first reply, in the background, at low
priority: queued while this process is busy with replies (chat/titles/queue.py)."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime

import pytest

from chat import services, titles
from chat.identity import Owner
from chat.models import ChatSession
from chat.providers import ErrorKind, ProviderError
from chat.signals import Asker, FinishedReply, reply_finished, reply_in_flight, send_now
from chat.titles import title_clean
from tests.chat.fakes import FakeProvider

# Titles are made on the queue's own threads, with their own database connections: they must see
# what the test wrote.
pytestmark = [pytest.mark.django_db(transaction=True)]


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


@pytest.fixture(autouse=True)
def title_queue(transactional_db, settings):
    """An empty title queue and no reply counted in flight; no title thread outlives the test
    (torn down before the database is flushed)."""
    settings.CHAT_TITLES_IDLE_BELOW = 1  # any reply in flight makes the process busy
    settings.CHAT_TITLES_MAX_DELAY_SECONDS = 30.0
    assert titles.titles_reset()
    yield titles._queue
    assert titles.titles_reset()
    assert not [thread for thread in threading.enumerate() if thread.name == "titles"]


def titles_made(timeout: float = 5) -> None:
    assert titles.titles_wait_idle_sync(timeout), "titles still waiting"


def replies_generating(delta: int) -> None:
    """Replies start (+) or end (-) in this process, told as chat.reply.lifecycle tells it."""
    for _ in range(abs(delta)):
        send_now(reply_in_flight, delta=1 if delta > 0 else -1)


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
    titles_made()

    assert title_of(session) == "Saturday opening hours"
    prompt = fake_provider.calls[-1]
    assert "title" in prompt[0].content and "saturdays" in prompt[1].content


def test_the_first_words_stay_when_the_model_fails(fake_provider):
    session, exchange = first_exchange()
    fake_provider.enqueue([ProviderError("down", kind=ErrorKind.UNAVAILABLE, retryable=False)])

    reply_finished.send(sender="chat", reply=finished(session, exchange))
    titles_made()

    assert title_of(session) == "hi, what time do you open on saturdays please?"


def test_a_rename_is_never_overwritten(fake_provider):
    session, exchange = first_exchange()
    services.session_update(session=session, title="My own name")
    fake_provider.enqueue(["Model title"])

    reply_finished.send(sender="chat", reply=finished(session, exchange))
    titles_made()

    assert title_of(session) == "My own name"
    assert fake_provider.calls == []  # not even asked


def test_titles_by_the_model_can_be_turned_off(fake_provider, settings):
    settings.CHAT_TITLES_BY_MODEL = False
    session, exchange = first_exchange()

    reply_finished.send(sender="chat", reply=finished(session, exchange))
    titles_made()

    assert title_of(session) == "hi, what time do you open on saturdays please?"
    assert fake_provider.calls == []


def test_only_the_first_complete_reply_makes_a_title(fake_provider):
    session, exchange = first_exchange()
    reply_finished.send(sender="chat", reply=finished(session, exchange, status="stopped"))
    services.exchange_begin(session=session, client_id="c-2", text="and sundays?")
    reply_finished.send(sender="chat", reply=finished(session, exchange))
    titles_made()

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
    await titles.titles_wait_idle()
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


# --- Low priority: the title queue (chat/titles/queue.py) ---------------------------------------


def first_exchanges(*questions: str):
    return [first_exchange(question) for question in questions]


@pytest.fixture
def title_starts(title_queue, monkeypatch):
    """When each title began to be made (time.monotonic()): a title made too early shows here
    however slow the machine, where "nothing happened yet" after a sleep might not."""
    starts: list[float] = []
    make = title_queue.make

    def noted(job):
        starts.append(time.monotonic())
        make(job)

    monkeypatch.setattr(title_queue, "make", noted)
    return starts


def test_titles_wait_while_replies_are_in_flight_and_are_made_once_they_end(
    fake_provider, settings, title_starts
):
    settings.CHAT_TITLES_IDLE_BELOW = 2
    session, exchange = first_exchange()
    fake_provider.enqueue(["Saturday opening hours"])
    replies_generating(+2)

    reply_finished.send(sender="chat", reply=finished(session, exchange))
    time.sleep(0.3)

    assert fake_provider.calls == []  # not asked while two replies are being generated
    assert title_of(session) == "hi, what time do you open on saturdays please?"
    released = time.monotonic()
    replies_generating(-1)  # one left: below CHAT_TITLES_IDLE_BELOW
    titles_made()
    assert title_of(session) == "Saturday opening hours"
    assert len(fake_provider.calls) == 1
    assert len(title_starts) == 1 and title_starts[0] >= released


def test_a_title_waits_no_longer_than_the_max_delay(fake_provider, settings):
    settings.CHAT_TITLES_MAX_DELAY_SECONDS = 0.6
    session, exchange = first_exchange()
    fake_provider.enqueue(["Saturday opening hours"])
    replies_generating(+3)  # and they go on
    sent = time.monotonic()

    reply_finished.send(sender="chat", reply=finished(session, exchange))
    time.sleep(0.2)
    assert fake_provider.calls == []
    titles_made()

    assert title_of(session) == "Saturday opening hours"
    assert time.monotonic() - sent >= 0.6


def test_past_the_queues_bound_a_conversation_keeps_its_first_words(
    fake_provider, settings, title_queue, monkeypatch, caplog
):
    settings.CHAT_TITLES_QUEUE_MAX = 2
    monkeypatch.setattr(title_queue, "workers", 1)  # the titles' scripts in the queue's order
    conversations = first_exchanges("opening hours?", "prices of parcels?", "where is the shop?")
    fake_provider.enqueue(["Opening hours"])
    fake_provider.enqueue(["Parcel prices"])
    fake_provider.enqueue(["Shop address"])
    replies_generating(+1)

    for session, exchange in conversations:
        reply_finished.send(sender="chat", reply=finished(session, exchange))
    assert title_queue.dropped == 1
    assert "title_dropped" in caplog.text and "queue_full" in caplog.text
    replies_generating(-1)
    titles_made()

    assert [title_of(session) for session, _ in conversations] == [
        "Opening hours", "Parcel prices", "where is the shop?",
    ]  # fmt: skip
    assert len(fake_provider.calls) == 2


def test_queued_titles_are_made_in_order_once_each(
    fake_provider, title_queue, monkeypatch, title_starts
):
    monkeypatch.setattr(title_queue, "workers", 1)  # one at a time: the order is the model's
    conversations = first_exchanges("opening hours?", "prices of parcels?", "where is the shop?")
    for title in ("Opening hours", "Parcel prices", "Shop address"):
        fake_provider.enqueue([title])
    replies_generating(+1)

    first, second, third = conversations
    for session, exchange in (first, second, first, third, second):  # signalled twice: once
        reply_finished.send(sender="chat", reply=finished(session, exchange))
    time.sleep(0.2)
    assert fake_provider.calls == []
    released = time.monotonic()
    replies_generating(-1)
    titles_made()

    assert len(title_starts) == 3 and min(title_starts) >= released
    asked = [call[1].content.split("\n")[0] for call in fake_provider.calls]
    assert asked == [
        "Question: opening hours?", "Question: prices of parcels?", "Question: where is the shop?",
    ]  # fmt: skip
    assert [title_of(session) for session, _ in conversations] == [
        "Opening hours", "Parcel prices", "Shop address",
    ]  # fmt: skip


def test_a_conversation_renamed_while_its_title_waits_is_not_sent_to_the_model(fake_provider):
    session, exchange = first_exchange()
    fake_provider.enqueue(["Model title"])
    replies_generating(+1)

    reply_finished.send(sender="chat", reply=finished(session, exchange))
    services.session_update(session=ChatSession.objects.get(pk=session.pk), title="My own name")
    replies_generating(-1)
    titles_made()

    assert title_of(session) == "My own name"
    assert fake_provider.calls == []


def test_a_stop_drops_the_waiting_titles_at_once_and_their_first_words_stay(fake_provider):
    conversations = first_exchanges("opening hours?", "prices of parcels?")
    replies_generating(+1)
    for session, exchange in conversations:
        reply_finished.send(sender="chat", reply=finished(session, exchange))
    started = time.monotonic()

    assert titles._queue.close(timeout=5)  # what atexit does, with a join

    assert time.monotonic() - started < 1
    assert not [thread for thread in threading.enumerate() if thread.name == "titles"]
    assert [title_of(session) for session, _ in conversations] == [
        "opening hours?", "prices of parcels?",
    ]  # fmt: skip
    assert fake_provider.calls == []


async def test_a_title_waits_for_the_replies_still_streaming_and_shares_their_provider(
    fake_provider, connect, title_queue, monkeypatch
):
    from channels.db import database_sync_to_async

    from chat.reply.lifecycle import replies_wait_idle
    from chat.signals import signals_wait_idle

    closed = []
    monkeypatch.setattr(TitleModel, "aclose", lambda self: _note(closed), raising=False)
    monkeypatch.setattr(title_queue, "workers", 1)  # the titles' scripts in the queue's order
    fake_provider.enqueue(["We open ", 1.5, "at nine."])  # a's reply, still streaming
    fake_provider.enqueue(["Parcels cost ", "five euros."])  # b's reply
    fake_provider.enqueue(["Parcel prices"])  # b's title
    fake_provider.enqueue(["Opening hours"])  # a's title
    a = await connect(visitor_key="visitor-a")
    b = await connect(visitor_key="visitor-b")
    await a.hello()
    await b.hello()
    await a.ask("when do you open on saturday?")
    await a.receive_until("token", timeout=3)
    await b.ask("how much is a parcel?")
    await b.receive_until("done", timeout=3)
    deadline = time.monotonic() + 3
    while title_queue.waiting() == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)  # b's reply is stored and signalled after `done`

    assert title_queue.waiting() == 1
    assert len(fake_provider.calls) == 2  # the replies only: b's title waits for a's reply
    assert await database_sync_to_async(title_of)(ChatSession(pk=b.session)) == (
        "how much is a parcel?"
    )
    await a.receive_until("done", timeout=5)
    await replies_wait_idle()
    await signals_wait_idle()
    await titles.titles_wait_idle()
    assert await database_sync_to_async(title_of)(ChatSession(pk=b.session)) == "Parcel prices"
    assert await database_sync_to_async(title_of)(ChatSession(pk=a.session)) == "Opening hours"
    assert closed == []  # made on this loop with the replies' provider, not one of their own
