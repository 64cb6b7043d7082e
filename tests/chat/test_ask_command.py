"""`manage.py ask` against a local server speaking OpenAI's wire format (fast, no model)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from chat.management.commands.ask import AnswerStats, stream_answer
from chat.providers import GenerationOptions, PromptMessage, Usage
from chat.providers.base import Timeouts
from chat.providers.openai import OpenAIProvider
from tests.chat.providers.fake_servers import (
    OpenAIServer,
    Pause,
    Reply,
    openai_error,
    openai_frame,
    openai_stream,
)
from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKENS = ["The ", "shop ", "opens ", "at ", "nine", "."]


@pytest.fixture
def server():
    with OpenAIServer(models=["gpt-test"]) as server:
        yield server


@pytest.fixture
def use_server(server, settings):
    settings.CHAT_PROVIDER = "openai"
    settings.OPENAI_BASE_URL = f"{server.url}/v1"
    settings.OPENAI_API_KEY = ""
    settings.CHAT_MODEL = "gpt-test"
    settings.CHAT_MAX_RETRIES = 0
    settings.CHAT_TIMEOUTS = {"connect": 2.0, "first_token": 3.0, "idle": 3.0}
    settings.CONCIERGE_SITE_NAME = "Formula Shop"
    settings.CHAT_GENERATION = {"temperature": 0.1, "top_p": 0.5, "max_tokens": 99}
    return server


pytestmark = pytest.mark.django_db  # the command reads the knowledge base


def test_it_streams_the_answer_then_prints_the_stats_line(use_server):
    use_server.enqueue(Reply(frames=openai_stream(TOKENS, usage=(30, 6), pause=0.02)))
    out = io.StringIO()

    call_command("ask", "When do you open?", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == "The shop opens at nine."
    stats = lines[1]
    assert stats.startswith("[ttft ")
    assert "tokens/s" in stats
    assert "tokens in 30 / out 6" in stats and "estimated" not in stats
    assert "openai gpt-test" in stats


def test_it_asks_with_the_site_prompt_model_and_configured_options(use_server):
    use_server.enqueue(Reply(frames=openai_stream(TOKENS)))

    call_command("ask", "When do you open?", stdout=io.StringIO())

    body = use_server.posts[0].body
    assert body["model"] == "gpt-test"
    assert body["messages"][0]["role"] == "system"
    assert "Formula Shop" in body["messages"][0]["content"]
    assert body["messages"][1] == {"role": "user", "content": "When do you open?"}
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.1, 0.5, 99)


def test_it_marks_estimated_usage_in_the_stats(use_server):
    use_server.enqueue(Reply(frames=openai_stream(TOKENS, usage=None)))
    out = io.StringIO()

    call_command("ask", "When?", stdout=out)

    assert "(estimated)" in out.getvalue()


def test_it_answers_questions_read_from_stdin_until_exit(use_server, monkeypatch):
    use_server.enqueue(Reply(frames=openai_stream(["One."])), Reply(frames=openai_stream(["Two."])))
    monkeypatch.setattr(sys, "stdin", io.StringIO("first?\nsecond?\nexit\nnever asked\n"))
    out = io.StringIO()

    call_command("ask", stdout=out)

    assert [r.body["messages"][1]["content"] for r in use_server.posts] == ["first?", "second?"]
    assert "One." in out.getvalue() and "Two." in out.getvalue()
    assert out.getvalue().count("tokens/s") == 2


def test_interactive_mode_stops_at_the_end_of_input(use_server, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))

    call_command("ask", stdout=io.StringIO())

    assert use_server.posts == []


def test_an_unreachable_model_is_one_clear_line(settings):
    url = f"http://127.0.0.1:{free_port()}/v1"
    settings.CHAT_PROVIDER = "openai"
    settings.OPENAI_BASE_URL = url
    settings.CHAT_MAX_RETRIES = 0

    with pytest.raises(CommandError) as caught:
        call_command("ask", "Hello?", stdout=io.StringIO())

    message = str(caught.value)
    assert message.startswith(f"Cannot reach the model at {url}")
    assert "make run" in message
    assert "\n" not in message


def test_a_rejected_key_is_reported_without_retrying(use_server):
    use_server.enqueue(
        Reply(status=401, body=openai_error("bad key", type="invalid_request_error"))
    )

    with pytest.raises(CommandError, match="rejected the API key.*OPENAI_API_KEY"):
        call_command("ask", "Hello?", stdout=io.StringIO())


def test_an_answer_cut_off_keeps_what_was_printed(use_server):
    frames = openai_stream(TOKENS[:2], done=False)
    frames.append(openai_frame(openai_error("The server had an error", type="server_error")))
    use_server.enqueue(Reply(frames=frames))
    out = io.StringIO()

    with pytest.raises(CommandError, match="^The answer was interrupted: "):
        call_command("ask", "Hello?", stdout=out)

    assert out.getvalue() == "The shop \n"


def test_the_command_line_shows_one_line_on_stderr_and_exits_non_zero():
    url = f"http://127.0.0.1:{free_port()}/v1"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_ENV_FILE": "",
        "DJANGO_SECRET_KEY": "test-only",
        "CHAT_PROVIDER": "openai",
        "OPENAI_BASE_URL": url,
        "CHAT_MAX_RETRIES": "2",  # the retries' warnings must not reach the terminal
        "CHAT_RETRIEVER": "",  # whatever help center the checkout's database holds
        "LOG_LEVEL": "INFO",
    }
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)

    done = subprocess.run(
        [sys.executable, "manage.py", "ask", "Hello?"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"CommandError: Cannot reach the model at {url}: is `make run` (or your LM Studio, "
        "Ollama or vLLM server) running? Check OPENAI_BASE_URL."
    ]


async def test_stream_answer_measures_first_token_and_speed(server):
    frames = openai_stream(TOKENS, usage=(30, 6), pause=0.1)
    frames.insert(1, Pause(0.4))  # thinks for half a second, then one token every 0.1 s
    server.enqueue(Reply(frames=frames))
    provider = OpenAIProvider(base_url=f"{server.url}/v1", timeouts=Timeouts(2, 3, 3))
    written: list[str] = []
    try:
        stats = await stream_answer(
            provider,
            model="gpt-test",
            messages=[PromptMessage(role="user", content="When?")],
            options=GenerationOptions(),
            write=written.append,
        )
    finally:
        await provider.aclose()

    assert written == TOKENS
    assert 480 <= stats.ttft_ms < 1500
    # Five tokens after the first, 0.1 s apart: 10 tokens/s. Counting the wait for the first
    # token (6 tokens in 1 s) would give 6.
    assert 7.5 <= stats.tokens_per_second <= 14
    assert stats.usage == Usage(30, 6)


def test_stats_without_tokens_say_not_available():
    stats = AnswerStats("openai", "m", None, 0.5, 0, None)

    assert stats.line() == "[ttft n/a | n/a tokens/s | tokens n/a | total 0.50 s | openai m]"
