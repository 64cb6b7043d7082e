"""Nothing heavy runs on the event loop: while one visitor's question loads the knowledge base
from cold (the embedding model, the index, the router's examples), another socket's ping still
comes back at once."""

from __future__ import annotations

import asyncio
import time

import pytest

from knowledge import embeddings
from knowledge.routing.examples import examples_clear
from knowledge.search import index
from tests.knowledge.conftest import help_center  # noqa: F401 - the fixture

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


async def test_a_cold_question_does_not_freeze_other_sockets(connect, fake_provider, settings,
                                                            help_center):  # noqa: F811
    settings.CHAT_RETRIEVER = "knowledge.search.retrieve_passages"
    settings.CHAT_INTENT_ROUTER = "knowledge.routing.route"
    settings.CHAT_SOCKET_FRAMES_PER_SECOND = 1000  # the pinger pings 50 times a second
    embeddings.reset()
    index.clear()
    examples_clear()
    fake_provider.enqueue(["Click ", "Forgot password."])
    asker = await connect(visitor_key="asker")
    pinger = await connect(visitor_key="pinger")
    await asker.hello()
    await pinger.hello()
    await asker.ask("I forgot my password")
    round_trips = []
    started = time.monotonic()
    answered = asyncio.create_task(asker.receive_until("done", timeout=120))
    while not answered.done():
        sent = time.monotonic()
        await pinger.send({"type": "ping"})
        assert (await pinger.receive(timeout=30))["type"] == "pong"
        round_trips.append(time.monotonic() - sent)
        await asyncio.sleep(0.02)
    events = answered.result()
    cold_s = time.monotonic() - started
    assert any(e["type"] == "sources" for e in events)  # it really searched the help center
    assert cold_s > 0.3, "the load was not cold: nothing was measured"
    # Before, the ping waited for the whole cold load (14 s). Threads loading the model still
    # take the GIL in bursts, and this machine is shared: a bound far under the load's length.
    assert max(round_trips) < min(1.0, cold_s / 4), (max(round_trips), cold_s)
