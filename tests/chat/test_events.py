"""One owner of the wire shapes: a reply replayed from its stored row (its stream expired, or the
same client id sent again) produces exactly the events it produced live."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from chat import events
from chat.live import streams
from chat.models import ChatMessage
from chat.providers import ErrorKind, ProviderError

pytestmark = [pytest.mark.django_db(transaction=True)]


def reply_events(received: list[dict]) -> list[dict]:
    """The reply's own events, from `start` to `done` (without the ack)."""
    start = next(i for i, e in enumerate(received) if e["type"] == "start")
    return received[start:]


async def live_then_replayed(connect, question: str) -> tuple[list[dict], list[dict], dict]:
    client = await connect()
    ready = await client.hello()
    client_id = await client.ask(question)
    live = reply_events(await client.receive_until("done"))
    streams._local.clear()  # the stream expired: only the stored row is left
    again = await connect()
    await again.hello(session=client.session)
    await again.ask(question, client_id=client_id)  # the same client id: answered from storage
    replayed = reply_events(await again.receive_until("done"))
    return live, replayed, ready


@pytest.mark.usefixtures("one_frame_per_piece")
async def test_a_replayed_reply_is_the_live_one(connect, fake_provider):
    fake_provider.enqueue(["The shop ", "opens ", "at nine.", ("usage", 40, 5)])
    live, replayed, _ = await live_then_replayed(connect, "When do you open?")
    assert [e["type"] for e in live] == ["start", "token", "token", "token", "usage", "done"]
    assert replayed == live


async def test_a_replayed_escalation_and_error_keep_their_fields(connect, fake_provider):
    fake_provider.enqueue(["Let me ", ProviderError("gone", kind=ErrorKind.UNAVAILABLE)])
    live, replayed, _ = await live_then_replayed(connect, "I want to talk to a human")
    types = [e["type"] for e in live]
    assert types == ["start", "token", "error", "escalation", "usage", "done"]
    error = next(e for e in live if e["type"] == "error")
    assert error["reply_to"] == live[0]["reply_to"]  # the replay used to drop reply_to
    assert replayed == live


@pytest.mark.usefixtures("one_frame_per_piece")
async def test_resuming_after_expiry_sends_exactly_the_missing_tokens(connect, fake_provider):
    fake_provider.enqueue(["one ", "two ", "three ", "four"])
    client = await connect()
    await client.hello()
    await client.ask("Count?")
    live = reply_events(await client.receive_until("done"))
    streams._local.clear()
    again = await connect()
    await again.send(
        {
            "type": "hello",
            "session": client.session,
            "resume": {"message": live[0]["message"], "seq": 1},
        }
    )
    assert (await again.receive())["type"] == "ready"
    resumed = await again.receive_until("done")
    assert [e.get("text") for e in resumed if e["type"] == "token"] == ["three ", "four"]
    assert resumed[-1] == live[-1]


async def test_pieces_that_come_together_go_out_in_one_frame_and_replay_as_they_went(
    connect, fake_provider, settings
):
    """The first piece at once; the next ones, within CHAT_STREAM_FRAME_MS of it, joined into
    one frame with the next `seq`; the stored reply replays the same frames, and a resume after
    the first frame gets exactly the rest."""
    settings.CHAT_STREAM_FRAME_MS = 1000
    fake_provider.enqueue(["The shop ", "opens ", "at ", "nine.", ("usage", 40, 5)])
    live, replayed, _ = await live_then_replayed(connect, "When do you open?")
    tokens = [e for e in live if e["type"] == "token"]
    assert [(e["seq"], e["text"]) for e in tokens] == [(0, "The shop "), (1, "opens at nine.")]
    assert replayed == live


async def test_a_resume_after_a_joined_frame_gets_exactly_the_rest(
    connect, fake_provider, settings
):
    settings.CHAT_STREAM_FRAME_MS = 200
    fake_provider.enqueue(["one ", "two ", "three ", 1.0, "four"])  # "four": a window later
    client = await connect()
    await client.hello()
    await client.ask("Count?")
    live = reply_events(await client.receive_until("done"))
    assert [e["text"] for e in live if e["type"] == "token"] == ["one ", "two three ", "four"]
    streams._local.clear()  # from the stored row
    again = await connect()
    await again.send({"type": "hello", "session": client.session,
                      "resume": {"message": live[0]["message"], "seq": 1}})  # fmt: skip
    assert (await again.receive())["type"] == "ready"
    resumed = await again.receive_until("done")
    assert [(e["seq"], e["text"]) for e in resumed if e["type"] == "token"] == [(2, "four")]


async def test_a_stop_publishes_the_pieces_still_waiting_and_stores_them(
    connect, fake_provider, settings
):
    settings.CHAT_STREAM_FRAME_MS = 5000  # nothing after the first piece goes out by itself
    fake_provider.enqueue(["One ", "two ", "three ", 1.0, "never"])
    client = await connect()
    await client.hello()
    await client.ask("Count slowly")
    await client.receive_until("token")
    await asyncio.sleep(0.2)  # "two three" wait in the frame
    await client.send({"type": "stop"})
    events_ = await client.receive_until("done")
    shown = "One " + "".join(e["text"] for e in events_ if e["type"] == "token")
    assert shown == "One two three " and events_[-1]["status"] == "stopped"
    reply = await database_sync_to_async(
        lambda: ChatMessage.objects.get(role="assistant", session_id=client.session)
    )()
    assert reply.text == shown


def test_pieces_fall_back_to_one_when_the_text_changed():
    assert events.pieces_of("abcdef", [2, 4]) == ["ab", "cdef"]
    assert events.pieces_of("abcdef", [2, 2]) == ["abcdef"]  # edited after streaming
    assert events.pieces_of("", []) == []
