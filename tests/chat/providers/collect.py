"""Drain a provider's stream the way a caller does: keep tokens as they come, catch the error."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from chat.providers.base import (
    GenerationOptions,
    PromptMessage,
    Provider,
    ProviderError,
    Usage,
)

QUESTION = [
    PromptMessage(role="system", content="You are a test."),
    PromptMessage(role="user", content="Say hello."),
]


@dataclass
class Collected:
    tokens: list[str] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    usage: Usage | None = None
    error: ProviderError | None = None
    elapsed: float = 0.0

    @property
    def text(self) -> str:
        return "".join(self.tokens)


async def collect(
    provider: Provider,
    *,
    model: str,
    messages: list[PromptMessage] | None = None,
    options: GenerationOptions | None = None,
) -> Collected:
    result = Collected()
    started = time.monotonic()
    try:
        async for event in provider.stream(
            model=model, messages=messages or QUESTION, options=options or GenerationOptions()
        ):
            result.events.append(event.type)
            if event.type == "token":
                result.tokens.append(event.text)
                result.arrivals.append(time.monotonic())
            elif event.type == "usage":
                result.usage = event.usage
    except ProviderError as exc:
        result.error = exc
    result.elapsed = time.monotonic() - started
    return result
