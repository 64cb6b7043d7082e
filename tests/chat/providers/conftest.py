"""Fake vendor servers (real sockets, the vendors' wire formats) and providers pointed at them."""

from __future__ import annotations

import pytest

from chat.providers.anthropic import AnthropicProvider
from chat.providers.base import Timeouts
from chat.providers.openai import OpenAIProvider
from tests.chat.providers.fake_servers import AnthropicServer, OpenAIServer

FAST = Timeouts(connect=2.0, first_token=3.0, idle=3.0)


@pytest.fixture
def openai_server():
    with OpenAIServer(models=["gpt-test", "gpt-other"]) as server:
        yield server


@pytest.fixture
def anthropic_server():
    with AnthropicServer(models=["claude-test", "claude-other"]) as server:
        yield server


@pytest.fixture
async def make_openai(openai_server):
    """Build an OpenAIProvider for the fake server; retries take milliseconds."""
    made: list[OpenAIProvider] = []

    def make(**kwargs) -> OpenAIProvider:
        kwargs.setdefault("api_key", "sk-test")
        kwargs.setdefault("base_url", f"{openai_server.url}/v1")
        kwargs.setdefault("timeouts", FAST)
        kwargs.setdefault("max_retries", 2)
        kwargs.setdefault("backoff_base", 0.01)
        provider = OpenAIProvider(**kwargs)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.aclose()


@pytest.fixture
async def make_anthropic(anthropic_server):
    """Build an AnthropicProvider for the fake server; retries take milliseconds."""
    made: list[AnthropicProvider] = []

    def make(**kwargs) -> AnthropicProvider:
        kwargs.setdefault("api_key", "sk-ant-test")
        kwargs.setdefault("base_url", anthropic_server.url)
        kwargs.setdefault("timeouts", FAST)
        kwargs.setdefault("max_retries", 2)
        kwargs.setdefault("backoff_base", 0.01)
        provider = AnthropicProvider(**kwargs)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.aclose()
