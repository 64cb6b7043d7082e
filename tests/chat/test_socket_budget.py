"""What one socket may cost: a flood of frames, or a client that never reads, is closed (1008)
with a last error that says why; other sockets do not notice."""

from __future__ import annotations

import json

import pytest

from chat.guards.sockets import FrameBudget, SendBudget

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_the_frame_bucket_allows_a_burst_then_the_rate():
    bucket = FrameBudget(rate=10, burst=3, at=0.0)
    assert [bucket.take(now=0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(now=0.1) is True  # one more token after 0.1 s at 10/s
    assert bucket.take(now=0.1) is False


def test_the_send_budget_resets_each_window():
    budget = SendBudget(limit=100, window=60, started=0.0)
    assert budget.spend(60, now=1) and not budget.spend(60, now=2)
    assert budget.spend(60, now=61)


async def closed_with(client) -> tuple[dict, int]:
    """The last error event and the close code, skipping pongs and other events."""
    last_error = None
    while True:
        output = await client.ws.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return last_error, output["code"]
        event = json.loads(output["text"])
        if event["type"] == "error":
            last_error = event


async def test_a_flood_of_frames_closes_that_socket_only(connect, fake_provider, settings):
    settings.CHAT_SOCKET_FRAMES_PER_SECOND = 5
    settings.CHAT_SOCKET_FRAME_BURST = 20
    flood = await connect(visitor_key="flood")
    calm = await connect(visitor_key="calm")
    await flood.hello()
    await calm.hello()
    for _ in range(200):
        await flood.send({"type": "ping"})
    error, code = await closed_with(flood)
    assert code == 1008 and error["code"] == "rate_limited" and "Reload" in error["message"]
    await calm.send({"type": "ping"})
    assert (await calm.receive())["type"] == "pong"


async def test_a_client_that_asks_more_than_it_reads_is_closed(connect, fake_provider, settings):
    settings.CHAT_SOCKET_SEND_BYTES_PER_MINUTE = 4000
    client = await connect()
    await client.hello()
    await client.ask("x" * 900)
    await client.receive_until("done")
    for _ in range(10):  # each `ready` carries the history again
        await client.send({"type": "hello", "session": client.session, "page": {}})
    error, code = await closed_with(client)
    assert code == 1008 and error["code"] == "too_large"
