"""The embedded default, for real: llama.cpp's server with SmolLM2, through OpenAIProvider."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from chat.local_model import MODEL_ALIAS
from chat.providers import GenerationOptions, PromptMessage, Timeouts
from chat.providers.openai import OpenAIProvider
from tests.chat.providers.collect import collect

pytestmark = pytest.mark.slow

# Generous: the machine is shared and a 135M model on two cores still needs a moment.
PATIENT = Timeouts(connect=5, first_token=60, idle=30)
SHORT = GenerationOptions(temperature=0.0, max_tokens=24, seed=1)
QUESTION = [
    PromptMessage(role="system", content="You are a helpful assistant. Answer in one sentence."),
    PromptMessage(role="user", content="What is the capital of France?"),
]


@pytest.fixture
async def provider(local_model_url):
    provider = OpenAIProvider(base_url=local_model_url, timeouts=PATIENT, max_retries=0)
    yield provider
    await provider.aclose()


async def test_it_streams_a_real_answer_token_by_token(provider):
    result = await collect(provider, model=MODEL_ALIAS, messages=QUESTION, options=SHORT)

    assert result.error is None
    assert result.text.strip()
    assert len(result.tokens) >= 3
    assert result.events[-2:] == ["usage", "done"]
    # Tokens arrive as they are generated, not in one burst at the end.
    assert len(set(result.arrivals)) > 1
    assert result.arrivals[-1] - result.arrivals[0] > 0.01


async def test_it_reports_plausible_usage(provider):
    result = await collect(provider, model=MODEL_ALIAS, messages=QUESTION, options=SHORT)

    usage = result.usage
    # llama-cpp-python's server sends no usage in a stream (even with stream_options), so the
    # provider estimates it; a server that reports usage (vLLM, Ollama, OpenAI) gets exact counts.
    assert usage.estimated is True
    assert 10 <= usage.input_tokens <= 60
    assert 1 <= usage.output_tokens <= 3 * SHORT.max_tokens
    assert len(result.tokens) <= SHORT.max_tokens + 1  # one event per generated token


async def test_it_lists_the_embedded_model_and_is_healthy(provider):
    models = await provider.list_models()
    health = await provider.health()

    assert MODEL_ALIAS in [m.id for m in models]
    assert health.reachable is True
    assert health.models_available >= 1


@pytest.mark.django_db  # ask reads the help center for passages
def test_ask_prints_a_real_answer_and_the_stats_line(local_model_url, settings):
    settings.CHAT_PROVIDER = "openai"
    settings.OPENAI_BASE_URL = local_model_url
    settings.OPENAI_API_KEY = ""
    settings.CHAT_MODEL = MODEL_ALIAS
    settings.CHAT_GENERATION = {"temperature": 0.0, "max_tokens": 24, "seed": 1}
    settings.CHAT_TIMEOUTS = {"connect": 5.0, "first_token": 60.0, "idle": 30.0}
    out = io.StringIO()

    call_command("ask", "What is the capital of France?", stdout=out)

    answer, stats = out.getvalue().rstrip("\n").rsplit("\n", 1)
    assert answer.strip()
    assert stats.startswith("[ttft ") and " ms |" in stats
    assert "tokens/s" in stats and "n/a tokens/s" not in stats
    assert f"openai {MODEL_ALIAS}" in stats


def test_the_model_server_ignores_the_sites_own_variables(monkeypatch):
    """`make run PORT=8010` exports PORT: the model server must not move to the site's port."""
    from chat import local_model

    monkeypatch.setenv("PORT", "8010")
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("N_CTX", "16")
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "config.settings")
    env = local_model.server_env()
    assert {"PORT", "HOST", "N_CTX"}.isdisjoint(env)
    assert env["DJANGO_SETTINGS_MODULE"] == "config.settings"
