"""The small profile (the embedded model) says "nothing matched" without the model only when
nothing did: a question an app gave facts for (the race, a shop's stock) is answered by the model
from those facts."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def small(settings, fake_provider):
    settings.CHAT_MODEL_PROFILE = "small"
    return fake_provider


async def test_an_apps_facts_are_answered_by_the_model(connect, small):
    small.enqueue(["Forty ", "tulip bulbs."])
    client = await connect()
    await client.hello()
    await client.ask("How many tulip bulbs are there?", universe="plantshop")
    events = await client.receive_until("done")
    assert "".join(e["text"] for e in events if e["type"] == "token") == "Forty tulip bulbs."
    assert "Tulip bulbs: 40 in stock." in small.calls[0][0].content  # the facts were given


async def test_with_nothing_at_all_it_says_so_without_the_model(connect, small):
    client = await connect()
    await client.hello()
    await client.ask("Tell me something")
    events = await client.receive_until("done")
    assert small.calls == []
    assert events[-1]["status"] == "complete"
