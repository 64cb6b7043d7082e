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


class ProviderFactory:
    """Builds providers pointed at a fake server (retries take milliseconds); closes them all."""

    def __init__(self, cls, **defaults) -> None:
        self.cls = cls
        self.defaults = {"timeouts": FAST, "max_retries": 2, "backoff_base": 0.01, **defaults}
        self.made: list = []

    def __call__(self, **kwargs):
        provider = self.cls(**{**self.defaults, **kwargs})
        self.made.append(provider)
        return provider

    async def aclose(self) -> None:
        for provider in self.made:
            await provider.aclose()


@pytest.fixture
async def make_openai(openai_server):
    factory = ProviderFactory(OpenAIProvider, api_key="sk-test", base_url=f"{openai_server.url}/v1")
    yield factory
    await factory.aclose()


@pytest.fixture
async def make_anthropic(anthropic_server):
    factory = ProviderFactory(
        AnthropicProvider, api_key="sk-ant-test", base_url=anthropic_server.url
    )
    yield factory
    await factory.aclose()
