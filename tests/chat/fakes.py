"""A scripted LLM for consumer logic (simonw/llm's AsyncMockModel idea).

`FakeProvider.enqueue([...])` queues the script of the next call: strings are tokens, numbers are
pauses in seconds, a ProviderError is raised where it stands, `("usage", in, out)` reports usage.
With no script queued, a call answers "Hello world".
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import ClassVar

from chat.providers.base import (
    GenerationOptions,
    ModelInfo,
    PromptMessage,
    Provider,
    ProviderError,
    StreamEvent,
    Timeouts,
    Usage,
)


class FakeProvider(Provider):
    name = "fake"
    scripts: ClassVar[deque] = deque()
    calls: ClassVar[list[list[PromptMessage]]] = []

    @classmethod
    def from_settings(cls) -> FakeProvider:
        return cls(timeouts=Timeouts(first_token=5, idle=5), max_retries=0)

    @classmethod
    def enqueue(cls, script: list) -> None:
        cls.scripts.append(list(script))

    @classmethod
    def reset(cls) -> None:
        cls.scripts.clear()
        cls.calls.clear()

    async def _stream(
        self, *, model: str, messages: list[PromptMessage], options: GenerationOptions
    ) -> AsyncIterator[StreamEvent]:
        type(self).calls.append(messages)
        script = self.scripts.popleft() if self.scripts else ["Hello", " world"]
        for item in script:
            if isinstance(item, str):
                yield StreamEvent(type="token", text=item)
            elif isinstance(item, (int, float)):
                await asyncio.sleep(item)
            elif isinstance(item, ProviderError):
                raise item
            elif isinstance(item, tuple) and item[0] == "usage":
                yield StreamEvent(type="usage", usage=Usage(item[1], item[2]))

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(id="fake-model")]
