"""The WebSocket consumer against the real ASGI stack, with a scripted model."""

from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async

from chat.models import ChatMessage, ChatSession
from chat.providers import ErrorKind, ProviderError
from chat.reply.lifecycle import replies_wait_idle

pytestmark = [pytest.mark.django_db(transaction=True)]


@database_sync_to_async
def stored(session_id) -> list[ChatMessage]:
    return list(ChatMessage.objects.filter(session_id=session_id).order_by("created_at"))


def tokens_of(events: list[dict]) -> list[dict]:
    return [e for e in events if e["type"] == "token"]


@pytest.mark.usefixtures("one_frame_per_piece")
async def test_it_streams_a_reply_and_stores_both_messages(connect, fake_provider):
    fake_provider.enqueue(["Hel", "lo", " there", ("usage", 12, 3)])
    client = await connect()
    ready = await client.hello()
    assert ready["history"] == [] and ready["universes"][0]["key"] == "general"
    assert "messages_remaining" in ready["usage"]
    client_id = await client.ask("Hi!")
    events = await client.receive_until("done")
    types = [e["type"] for e in events]
    assert types == ["ack", "start", "token", "token", "token", "usage", "done"]
    ack, start, *_ = events
    assert ack["id"] == client_id and start["reply_to"] == client_id
    assert [t["seq"] for t in tokens_of(events)] == [0, 1, 2]
    done = events[-1]
    assert done["status"] == "complete" and done["usage"] == {
        "input_tokens": 12,
        "output_tokens": 3,
    }
    assert done["cached"] is False and done["ttft_ms"] is not None
    usage = events[-2]
    assert usage["messages_used"] == 1 and usage["messages_remaining"] >= 0
    question, reply = await stored(client.session)
    assert (question.role, question.text, question.client_id) == ("user", "Hi!", client_id)
    assert str(reply.id) == start["message"] == done["message"]
    assert (reply.text, reply.status, reply.output_tokens) == ("Hello there", "complete", 3)
    assert reply.reply_to_id == question.id and reply.provider == "fake"


async def test_the_same_client_id_is_answered_once(connect, fake_provider):
    fake_provider.enqueue(["One", " answer"])
    client = await connect()
    await client.hello()
    client_id = await client.ask("Twice?")
    first = await client.receive_until("done")
    await client.ask("Twice?", client_id=client_id)
    second = await client.receive_until("done")
    assert second[0] == first[0]  # the same ack: same stored message
    assert "".join(t["text"] for t in tokens_of(second)) == "One answer"
    assert len(fake_provider.calls) == 1
    assert len(await stored(client.session)) == 2


async def test_stop_keeps_the_partial_text_as_stopped(connect, fake_provider):
    fake_provider.enqueue(["Partial", " text", 5, " never"])
    client = await connect()
    await client.hello()
    await client.ask("Long answer please")
    events = [await client.receive() for _ in range(4)]  # ack, start, 2 tokens
    assert [e["type"] for e in events] == ["ack", "start", "token", "token"]
    await client.send({"type": "stop"})
    done = (await client.receive_until("done"))[-1]
    assert done["status"] == "stopped"
    reply = (await stored(client.session))[1]
    assert (reply.status, reply.text) == ("stopped", "Partial text")


async def test_a_provider_failure_mid_stream_keeps_the_partial_text(connect, fake_provider):
    fake_provider.enqueue(
        ["Half", " an", ProviderError("boom", kind=ErrorKind.UNAVAILABLE, retryable=True)]
    )
    client = await connect()
    await client.hello()
    client_id = await client.ask("Question")
    events = await client.receive_until("done")
    error = next(e for e in events if e["type"] == "error")
    assert error["code"] == "provider_unavailable" and error["reply_to"] == client_id
    assert "retry" in error["message"].lower()
    assert events[-1]["status"] == "interrupted"
    reply = (await stored(client.session))[1]
    assert (reply.status, reply.text, reply.error_code) == (
        "interrupted",
        "Half an",
        "provider_unavailable",
    )


async def test_a_provider_down_before_the_first_token_gives_the_offline_answer(
    connect, fake_provider
):
    fake_provider.enqueue([ProviderError("down", kind=ErrorKind.UNAVAILABLE, retryable=True)])
    client = await connect()
    await client.hello()
    await client.ask("Anyone there?")
    events = await client.receive_until("done")
    assert events[-1]["status"] == "complete"
    text = "".join(t["text"] for t in tokens_of(events))
    assert "without a language model" in text
    reply = (await stored(client.session))[1]
    assert reply.provider == "offline"
    assert reply.metadata["fallback_from"] == {"provider": "fake", "error": "unavailable"}


async def test_a_second_message_while_a_reply_runs_is_busy(connect, fake_provider):
    fake_provider.enqueue(["Slow", 0.5, " reply"])
    client = await connect()
    await client.hello()
    await client.ask("First")
    assert (await client.receive())["type"] == "ack"
    second = await client.ask("Second")
    events = await client.receive_until("done")
    busy = next(e for e in events if e["type"] == "error")
    assert busy["code"] == "busy" and busy["reply_to"] == second
    assert [m.text for m in await stored(client.session)] == ["First", "Slow reply"]


async def test_a_dropped_socket_does_not_stop_the_reply(connect, fake_provider):
    fake_provider.enqueue(["Still", 0.2, " generated", 0.2, " after close"])
    client = await connect()
    await client.hello()
    await client.ask("Go")
    await client.receive()  # ack
    await client.close()
    await replies_wait_idle()
    reply = (await stored(client.session))[1]
    assert (reply.status, reply.text) == ("complete", "Still generated after close")


@pytest.mark.usefixtures("one_frame_per_piece")
async def test_resume_sends_exactly_the_missing_tokens_then_follows_live(connect, fake_provider):
    fake_provider.enqueue(["a", "b", "c", 0.3, "d", "e"])
    client = await connect()
    await client.hello()
    await client.ask("Letters")
    first = [await client.receive() for _ in range(4)]  # ack, start, a, b
    assert [e.get("text") for e in first[2:]] == ["a", "b"]
    reply_id = first[1]["message"]
    await client.close()

    again = await connect()
    resumed = await again.hello(session=client.session, resume={"message": reply_id, "seq": 1})
    assert resumed["history"][-1]["status"] == "streaming"
    events = await again.receive_until("done")
    assert [(t["seq"], t["text"]) for t in tokens_of(events)] == [(2, "c"), (3, "d"), (4, "e")]
    assert "start" not in [e["type"] for e in events]


@pytest.mark.usefixtures("one_frame_per_piece")
async def test_resume_after_the_reply_finished_sends_the_rest_then_done(connect, fake_provider):
    fake_provider.enqueue(["x", "y", "z"])
    client = await connect()
    await client.hello()
    await client.ask("Quick")
    events = await client.receive_until("done")
    reply_id = events[1]["message"]
    await client.close()
    again = await connect()
    await again.hello(session=client.session, resume={"message": reply_id, "seq": 0})
    events = await again.receive_until("done")
    assert [t["text"] for t in tokens_of(events)] == ["y", "z"]


async def test_bob_cannot_open_alices_session(connect, fake_provider, alice, bob):
    as_alice = await connect(user=alice, visitor_key="alice-browser")
    await as_alice.hello()
    await as_alice.ask("Mine")
    await as_alice.receive_until("done")
    as_bob = await connect(user=bob, visitor_key="bob-browser")
    await as_bob.send({"type": "hello", "session": as_alice.session, "page": {}})
    error = await as_bob.receive()
    assert error["type"] == "error" and error["code"] == "forbidden"
    await as_bob.send({"type": "message", "id": str(uuid.uuid4()), "text": "sneaky"})
    assert (await as_bob.receive())["code"] == "invalid"  # he never got past hello
    assert [m.text for m in await stored(as_alice.session)] == ["Mine", "Hello world"]


async def test_visitor_a_cannot_open_visitor_bs_session(connect, fake_provider):
    visitor_b = await connect(visitor_key="visitor-b")
    await visitor_b.hello()
    await visitor_b.ask("Mine")
    await visitor_b.receive_until("done")
    visitor_a = await connect(visitor_key="visitor-a")
    await visitor_a.send({"type": "hello", "session": visitor_b.session, "page": {}})
    assert (await visitor_a.receive())["code"] == "forbidden"
    await visitor_a.send({"type": "hello", "session": str(uuid.uuid4()), "page": {}})
    assert (await visitor_a.receive())["code"] == "not_found"


async def test_a_logged_in_user_keeps_sessions_across_browsers(connect, fake_provider, alice):
    laptop = await connect(user=alice, visitor_key="laptop")
    await laptop.hello()
    await laptop.ask("Mine")
    await laptop.receive_until("done")
    phone = await connect(user=alice, visitor_key="phone")
    again = await phone.hello(session=laptop.session)
    assert again["session"] == laptop.session


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "invalid"),
        ('["a list"]', "invalid"),
        ({"type": "dance"}, "invalid"),
        ({"type": "message", "text": "no id"}, "invalid"),
        ({"type": "message", "id": "not-a-uuid", "text": "hi"}, "invalid"),
        ({"type": "message", "id": str(uuid.uuid4())}, "invalid"),
        ({"type": "message", "id": str(uuid.uuid4()), "text": "   "}, "invalid"),
        ({"type": "message", "id": str(uuid.uuid4()), "text": "x" * 4001}, "too_large"),
        ({"type": "message", "id": str(uuid.uuid4()), "text": "hi", "universe": "nope"}, "invalid"),
        (
            {
                "type": "message",
                "id": str(uuid.uuid4()),
                "text": "hi",
                "image": "data:text/plain;base64,aGk=",
            },
            "unsupported_image",
        ),  # noqa: E501
        (
            {
                "type": "message",
                "id": str(uuid.uuid4()),
                "text": "hi",
                "image": "data:image/png;base64,aGk=",
            },
            "unsupported_image",
        ),  # noqa: E501
        ({"type": "rate", "score": 9}, "invalid"),
        ({"type": "stop"}, "invalid"),
    ],
)
async def test_bad_input_gets_a_typed_error_stores_nothing_and_keeps_the_socket(
    connect, fake_provider, frame, code
):
    client = await connect()
    await client.hello()
    await client.send(frame)
    error = await client.receive()
    assert error["type"] == "error" and error["code"] == code and error["message"]
    assert await stored(client.session) == []
    await client.send({"type": "ping"})
    assert (await client.receive())["type"] == "pong"


async def test_a_frame_over_the_size_limit_is_refused(connect, fake_provider, settings):
    settings.CHAT_MAX_FRAME_BYTES = 1000
    client = await connect()
    await client.hello()
    await client.send({"type": "message", "id": str(uuid.uuid4()), "text": "y" * 2000})
    assert (await client.receive())["code"] == "too_large"
    assert await stored(client.session) == []


async def test_a_message_before_hello_is_refused(connect, fake_provider):
    client = await connect()
    await client.ask("too early")
    assert (await client.receive())["code"] == "invalid"


async def test_a_foreign_origin_is_refused_at_the_handshake(connect, fake_provider):
    client = await connect(origin=b"https://evil.example")
    assert client.connected is False


async def test_a_regeneration_that_yields_nothing_keeps_the_previous_answer(connect, fake_provider):
    fake_provider.enqueue(["Good answer"])
    fake_provider.enqueue([5, "too late"])
    client = await connect()
    await client.hello()
    await client.ask("Again?")
    await client.receive_until("done")
    await client.send({"type": "regenerate"})
    await client.receive_until("start")
    await client.send({"type": "stop"})
    events = await client.receive_until("done")
    assert events[-1]["status"] == "stopped"
    texts = [(m.text, m.status) for m in await stored(client.session)]
    assert texts == [("Again?", "complete"), ("Good answer", "complete"), ("", "stopped")]


async def test_regenerate_replaces_the_last_reply(connect, fake_provider):
    fake_provider.enqueue(["First try"])
    fake_provider.enqueue(["Second try"])
    client = await connect()
    await client.hello()
    await client.ask("Again?")
    await client.receive_until("done")
    await client.send({"type": "regenerate"})
    events = await client.receive_until("done")
    assert "".join(t["text"] for t in tokens_of(events)) == "Second try"
    assert [m.text for m in await stored(client.session)] == ["Again?", "Second try"]


async def test_rating_is_stored(connect, fake_provider):
    client = await connect()
    await client.hello()
    await client.send({"type": "rate", "score": 4, "comment": "helpful"})
    assert (await client.receive())["code"] == "invalid"  # no conversation to rate yet
    await client.ask("Hello?")
    await client.receive_until("done")
    await client.send({"type": "rate", "score": 4, "comment": "helpful"})
    await client.send({"type": "ping"})
    assert (await client.receive())["type"] == "pong"
    session = await database_sync_to_async(ChatSession.objects.get)(id=client.session)
    assert (session.rating, session.rating_comment) == (4, "helpful")


async def test_a_new_page_during_a_reply_follows_it_from_the_start(connect, fake_provider):
    fake_provider.enqueue(["one", 0.3, " two"])
    client = await connect()
    await client.hello()
    await client.ask("Follow me")
    await client.receive_until("token")
    other_page = await connect()
    await other_page.hello(session=client.session)
    events = await other_page.receive_until("done")
    assert "".join(t["text"] for t in tokens_of(events)) == "one two"


async def test_asking_for_a_person_offers_the_human_contact_once(connect, fake_provider):
    client = await connect()
    await client.hello()
    await client.ask("Can I talk to a real person please?")
    events = await client.receive_until("done")
    escalation = next(e for e in events if e["type"] == "escalation")
    assert escalation["contact"]["email"] == "support@example.com" and escalation["message"]
    session = await database_sync_to_async(ChatSession.objects.get)(id=client.session)
    assert session.escalated is True
    await client.ask("I want a human!")
    again = await client.receive_until("done")
    assert "escalation" not in [e["type"] for e in again]


async def test_asking_the_same_thing_again_escalates(connect, fake_provider):
    client = await connect()
    await client.hello()
    await client.ask("How do I change my plan?")
    first = await client.receive_until("done")
    assert "escalation" not in [e["type"] for e in first]
    await client.ask("how do i change my plan")
    second = await client.receive_until("done")
    assert next(e for e in second if e["type"] == "escalation")["reason"] == "repeated"


@database_sync_to_async
def orphan_reply(owner_key: str) -> tuple[str, str]:
    """A conversation whose reply was `streaming` when its server process died."""
    from datetime import timedelta

    from django.utils import timezone

    from chat import services
    from chat.identity import Owner

    session = services.session_create(owner=Owner(user_id=None, visitor_key=owner_key))
    exchange = services.exchange_begin(session=session, client_id=str(uuid.uuid4()), text="Q")
    # A minute old: past the grace a just-started reply gets before its stream is in Redis.
    ChatMessage.objects.filter(id=exchange.question.id).update(
        created_at=timezone.now() - timedelta(minutes=1, seconds=1)
    )
    ChatMessage.objects.filter(id=exchange.reply.id).update(
        created_at=timezone.now() - timedelta(minutes=1)
    )
    return str(session.id), str(exchange.reply.id)


async def test_a_reply_cut_by_a_restart_is_marked_interrupted_on_hello(connect, fake_provider):
    session_id, reply_id = await orphan_reply("visitor-a")
    client = await connect()
    ready = await client.hello(session=session_id)
    assert ready["history"][-1]["status"] == "streaming"
    events = await client.receive_until("done")
    assert events[-1]["message"] == reply_id and events[-1]["status"] == "interrupted"
    assert next(e for e in events if e["type"] == "error")["code"] == "internal"


async def test_a_reply_cut_by_a_restart_does_not_leave_the_conversation_busy(
    connect, fake_provider
):
    session_id, reply_id = await orphan_reply("visitor-a")
    client = await connect()
    await client.send({"type": "hello", "session": session_id, "page": {}})
    await client.receive_until("done")  # the orphan is settled
    await client.ask("Still there?")
    events = await client.receive_until("done")
    assert events[0]["type"] == "ack" and events[-1]["status"] == "complete"


async def test_hello_alone_stores_no_conversation(connect, fake_provider):
    client = await connect()
    for _ in range(5):
        ready = await client.hello()
        assert ready["session"] is None and ready["history"] == []
    assert await database_sync_to_async(ChatSession.objects.count)() == 0
    client_id = await client.ask("First question")
    ack = (await client.receive_until("ack"))[-1]
    assert ack["id"] == client_id and ack["session"]
    await client.receive_until("done")
    assert await database_sync_to_async(ChatSession.objects.count)() == 1
    assert (await client.hello(session=ack["session"]))["history"][0]["text"] == "First question"


async def test_a_second_hello_stops_relaying_the_old_conversations_reply(connect, fake_provider):
    fake_provider.enqueue(["one", 0.2, " two", 0.2, " three"])
    client = await connect()
    await client.hello()
    await client.ask("Long one")
    await client.receive_until("token")
    await client.hello()  # another conversation on the same socket, mid-stream
    assert await client.nothing_more(timeout=0.8)  # nothing of the old reply leaks in


async def test_busy_refusals_cost_nothing_against_the_rate_limit(connect, fake_provider, settings):
    settings.CHAT_RATE_LIMIT = "3/minute"
    fake_provider.enqueue(["slow", 1.0, " reply"])
    client = await connect()
    await client.hello()
    await client.ask("First")
    await client.receive_until("token")
    for _ in range(5):
        await client.ask("Again?")
        assert (await client.receive_until("error"))[-1]["code"] == "busy"
    await client.receive_until("done")
    await client.ask("Now?")
    events = await client.receive_until("done")
    assert not [e for e in events if e["type"] == "error"]  # 2 of 3 used: not rate limited
