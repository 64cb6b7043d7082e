"""Images reach the models that see them (OpenAI `image_url` parts), and only those: a text-only
model gets the question and the data, and is told it cannot see the picture."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from tests.chat.providers.fake_servers import OpenAIServer, Reply, openai_stream

pytestmark = [pytest.mark.django_db(transaction=True)]


def png() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), (200, 30, 30)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
def vision_server(settings):
    with OpenAIServer(models=["gpt-4o", "smollm2-135m-instruct"]) as server:
        settings.CHAT_PROVIDER = "openai"
        settings.OPENAI_BASE_URL = f"{server.url}/v1"
        settings.CHAT_RETRIEVER = ""
        settings.CHAT_VISION_MODELS = ["gpt-4o"]
        yield server


async def ask_with_image(connect, server, model: str, settings) -> list:
    settings.CHAT_MODEL = model
    server.enqueue(Reply(frames=openai_stream(["I ", "see ", "a red chart."], model=model)))
    client = await connect()
    await client.hello()
    await client.ask("What does this chart show?", image=png())
    await client.receive_until("done")
    return server.posts[-1].body["messages"]


async def test_a_vision_model_receives_the_image_part(connect, vision_server, settings):
    messages = await ask_with_image(connect, vision_server, "gpt-4o", settings)
    parts = messages[-1]["content"]
    assert isinstance(parts, list)
    kinds = [p["type"] for p in parts]
    assert kinds == ["text", "image_url"]
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")


async def test_a_text_only_model_gets_no_image_and_is_told_so(connect, vision_server, settings):
    messages = await ask_with_image(connect, vision_server, "smollm2-135m-instruct", settings)
    assert isinstance(messages[-1]["content"], str)  # no image part
    assert "you read the data, not the picture" in messages[0]["content"]
