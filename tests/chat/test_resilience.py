"""Chat with Redis configured but gone, and what the logs may say."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from tests.services import free_port

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_chat_keeps_working_when_redis_is_unreachable(connect, fake_provider, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings.CHAT_RATE_LIMIT = "2/minute"
    settings.CHAT_RATE_LIMIT_IP = ""
    fake_provider.enqueue(["Still", " here"])
    with capture_logs() as logs:
        client = await connect()
        await client.hello()
        await client.ask("Anyone?")
        events = await client.receive_until("done")
        assert events[-1]["status"] == "complete"
        assert "".join(e["text"] for e in events if e["type"] == "token") == "Still here"
        await client.ask("Twice?")
        await client.receive_until("done")
        await client.ask("Three times?")  # the in-process limiter still counts
        assert (await client.receive())["code"] == "rate_limited"
    assert [e["event"] for e in logs].count("redis_unavailable") == 1


async def test_logs_never_carry_the_prompt_the_question_or_keys(connect, fake_provider, settings):
    settings.OPENAI_API_KEY = "sk-secret-never-logged"
    fake_provider.enqueue(["A", " reply", ("usage", 3, 2)])
    secret_question = "My account number is 123-456-789, why was I charged twice?"
    with capture_logs() as logs:
        client = await connect()
        await client.hello()
        await client.ask(secret_question)
        await client.receive_until("done")
    finished = next(e for e in logs if e["event"] == "reply_finished")
    assert finished["tokens_out"] == 2 and finished["status"] == "complete"
    text = repr(logs)
    assert "123-456-789" not in text
    assert "You are the assistant" not in text and "sk-secret" not in text
