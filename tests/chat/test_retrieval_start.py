"""Retrieval starts early: the retriever's `prepare` as soon as a question is accepted (while it
is stored), and the search beside the routing, which it does not need."""

from __future__ import annotations

import threading

import pytest
from channels.db import database_sync_to_async

from chat.models import ChatMessage
from chat.reply import context
from chat.reply.retrieval import Passage
from chat.reply.routing import DEFAULT_ROUTE

pytestmark = [pytest.mark.django_db(transaction=True)]

SEEN: dict[str, list] = {"prepared": [], "retrieved": []}
RETRIEVAL_STARTED = threading.Event()


def retriever(query: str, *, category=None, limit: int = 3) -> list[Passage]:
    RETRIEVAL_STARTED.set()
    SEEN["retrieved"].append(query)
    return []


def prepare(query: str) -> None:
    SEEN["prepared"].append(query)


retriever.prepare = prepare


@pytest.fixture
def recording_retriever(settings):
    settings.CHAT_RETRIEVER = f"{__name__}.retriever"
    for seen in SEEN.values():
        seen.clear()
    RETRIEVAL_STARTED.clear()
    yield SEEN


@database_sync_to_async
def stored(text: str) -> int:
    return ChatMessage.objects.filter(role="user", text=text).count()


async def test_the_retriever_is_prepared_with_the_question_before_the_answer(
    connect, fake_provider, recording_retriever
):
    client = await connect()
    await client.hello()
    await client.ask("Where is my parcel?")
    assert (await client.receive_until("done"))[-1]["status"] == "complete"
    assert recording_retriever["prepared"] == ["Where is my parcel?"]
    assert recording_retriever["retrieved"] == ["Where is my parcel?"]
    assert await stored("Where is my parcel?") == 1


async def test_a_refused_question_prepares_nothing(
    connect, fake_provider, recording_retriever, settings
):
    settings.CHAT_RATE_LIMIT = "1/minute"
    client = await connect(visitor_key="once")
    await client.hello()
    await client.ask("First?")
    await client.receive_until("done")
    await client.ask("Second?")
    assert (await client.receive())["code"] == "rate_limited"
    assert recording_retriever["prepared"] == ["First?"]  # a refusal costs no embedding


async def test_retrieval_runs_while_the_question_is_routed(
    connect, fake_provider, recording_retriever, monkeypatch
):
    """The router waits for the search to have started: were they one after the other, it
    would give up after 5 s and the test would see it."""
    waited: list[bool] = []

    def route(question, *, page, universes):
        waited.append(RETRIEVAL_STARTED.wait(5))
        return DEFAULT_ROUTE

    monkeypatch.setattr(context, "route_question", route)
    monkeypatch.setattr(context, "routing_enabled", lambda: True)
    client = await connect()
    await client.hello()
    await client.ask("Which services do you sell?")
    assert (await client.receive_until("done"))[-1]["status"] == "complete"
    assert waited == [True]


def failing_retriever(query: str, *, category=None, limit: int = 3) -> list[Passage]:
    return retriever(query, category=category, limit=limit)


def broken_prepare(query: str) -> None:
    raise RuntimeError("the head start broke")


failing_retriever.prepare = broken_prepare


async def test_a_prepare_that_fails_costs_the_question_nothing(
    connect, fake_provider, recording_retriever, settings
):
    settings.CHAT_RETRIEVER = f"{__name__}.failing_retriever"
    client = await connect()
    await client.hello()
    await client.ask("Still answered?")
    assert (await client.receive_until("done"))[-1]["status"] == "complete"
    assert recording_retriever["retrieved"] == ["Still answered?"]  # retrieval ran as usual
    assert await stored("Still answered?") == 1
