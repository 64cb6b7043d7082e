"""The SSE fallback: same events, same order, same limits as the WebSocket."""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import AsyncClient

from chat.models import ChatMessage
from chat.reply.lifecycle import replies_wait_idle
from chat.signals import signals_wait_idle

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
async def replies_settle():
    """An SSE test ends at `done`; the reply task and its listeners finish after it. Let them end
    before the database is flushed, so teardown never waits on their connections."""
    yield
    await replies_wait_idle()
    await signals_wait_idle()


async def sse_events(response) -> list[dict]:
    body = b""
    async for chunk in response.streaming_content:
        body += chunk if isinstance(chunk, bytes) else chunk.encode()
    return [
        json.loads(line[len("data: ") :])
        for line in body.decode().split("\n")
        if line.startswith("data: ")
    ]


async def post(client: AsyncClient, body: dict, **extra):
    return await client.post(
        "/api/chat/stream/", data=json.dumps(body), content_type="application/json", **extra
    )


def question(text="Hello?", client_id=None) -> dict:
    return {"id": client_id or str(uuid.uuid4()), "text": text}


async def test_it_streams_the_websocket_events_in_the_same_order(connect, fake_provider, settings):
    settings.CHAT_CACHE_TTL = 0  # both must be generated, not one replayed from the cache
    fake_provider.enqueue(["Same", " events", ("usage", 5, 2)])
    fake_provider.enqueue(["Same", " events", ("usage", 5, 2)])
    ws = await connect()
    await ws.hello()
    await ws.ask("Order?")
    over_ws = await ws.receive_until("done")

    response = await post(AsyncClient(), {"session": None, "message": question("Order?")})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    over_sse = await sse_events(response)
    assert over_sse[0]["type"] == "ready"
    assert [e["type"] for e in over_sse[1:]] == [e["type"] for e in over_ws]
    assert [e.get("text") for e in over_sse[1:]] == [e.get("text") for e in over_ws]
    assert over_sse[-1]["status"] == "complete"


async def test_the_same_client_id_is_answered_once_over_sse(fake_provider):
    client = AsyncClient()
    body = {"session": None, "message": question("Once")}
    first = await sse_events(await post(client, body))
    body["session"] = first[0]["session"]
    second = await sse_events(await post(client, body))
    assert first[1] == second[1]  # the same ack
    assert len(fake_provider.calls) == 1
    assert await ChatMessage.objects.filter(session_id=body["session"]).acount() == 2


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"session": None, "message": {"id": "nope", "text": "x"}}, 400, "invalid"),
        ({"session": None, "message": question(" ")}, 400, "invalid"),
        ({"session": None, "message": question("x" * 4001)}, 413, "too_large"),
        ({"session": str(uuid.uuid4()), "message": question()}, 404, "not_found"),
    ],
)
async def test_refusals_are_http_errors_before_the_stream(fake_provider, body, status, code):
    response = await post(AsyncClient(), body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert await ChatMessage.objects.acount() == 0


async def test_malformed_json_is_a_400(fake_provider):
    response = await AsyncClient().post(
        "/api/chat/stream/", data="{oops", content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid"


async def test_it_needs_the_csrf_token(fake_provider):
    client = AsyncClient(enforce_csrf_checks=True)
    response = await post(client, {"session": None, "message": question()})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert await ChatMessage.objects.acount() == 0


async def test_another_visitors_session_is_forbidden(fake_provider):
    alice_browser = AsyncClient()
    events = await sse_events(await post(alice_browser, {"session": None, "message": question()}))
    stranger = await post(AsyncClient(), {"session": events[0]["session"], "message": question()})
    assert stranger.status_code == 403
    assert stranger.json()["error"]["code"] == "forbidden"


async def test_a_silent_model_gets_heartbeats(fake_provider, monkeypatch):
    from chat.live import sse

    monkeypatch.setattr(sse, "HEARTBEAT_SECONDS", 0.05)
    fake_provider.enqueue(["slow", 0.3, " reply"])
    response = await post(AsyncClient(), {"session": None, "message": question()})
    body = b""
    async for chunk in response.streaming_content:
        body += chunk if isinstance(chunk, bytes) else chunk.encode()
    assert b": ping\n\n" in body
    assert body.rstrip().endswith(b'"cached": false}')


async def test_stop_over_rest_ends_the_sse_stream_with_stopped(fake_provider):
    import asyncio

    fake_provider.enqueue(["Part", " one", 5, " never"])
    client = AsyncClient()
    response = await post(client, {"session": None, "message": question("Long one")})
    events, stop_status = [], None
    async for chunk in response.streaming_content:
        for line in (chunk if isinstance(chunk, bytes) else chunk.encode()).decode().split("\n"):
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            events.append(event)
            if event["type"] == "token" and event["seq"] == 1 and stop_status is None:
                stop = await client.post(f"/api/chat/sessions/{events[0]['session']}/stop/")
                stop_status = stop.status_code
    await asyncio.sleep(0)
    assert stop_status == 202
    assert events[-1]["type"] == "done" and events[-1]["status"] == "stopped"
    reply = await ChatMessage.objects.aget(role="assistant")
    assert (reply.status, reply.text) == ("stopped", "Part one")
    nothing = await client.post(f"/api/chat/sessions/{events[0]['session']}/stop/")
    assert nothing.status_code == 400


async def test_regenerate_over_sse_answers_the_last_question_again(fake_provider):
    fake_provider.enqueue(["First"])
    fake_provider.enqueue(["Second"])
    client = AsyncClient()
    first = await sse_events(await post(client, {"session": None, "message": question("Again")}))
    session = first[0]["session"]
    again = await sse_events(await post(client, {"session": session, "regenerate": True}))
    assert [e["type"] for e in again][:2] == ["ready", "start"]
    assert "".join(e.get("text", "") for e in again if e["type"] == "token") == "Second"
    texts = [m.text async for m in ChatMessage.objects.filter(session_id=session)]
    assert texts == ["Again", "Second"]


async def test_another_visitor_cannot_stop_my_reply(fake_provider):
    fake_provider.enqueue(["slow", 1, " reply"])
    mine = AsyncClient()
    response = await post(mine, {"session": None, "message": question()})
    events = []
    async for chunk in response.streaming_content:
        text = (chunk if isinstance(chunk, bytes) else chunk.encode()).decode()
        events += [json.loads(x[6:]) for x in text.split("\n") if x.startswith("data: ")]
        if any(e["type"] == "token" for e in events):
            stranger = await AsyncClient().post(f"/api/chat/sessions/{events[0]['session']}/stop/")
            assert stranger.status_code == 404
            break
    await replies_wait_idle()
    assert (await ChatMessage.objects.aget(role="assistant")).status == "complete"
