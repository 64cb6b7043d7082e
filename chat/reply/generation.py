"""Generating: the chosen provider behind its circuit breaker, and the offline fallback.

`generate` is an async iterator of what the model says: first an `Answering` (who answers), then
the provider's `StreamEvent`s (tokens, usage). Before the first token, a failing provider, or one
whose breaker is open, is replaced by the offline answer from the passages already retrieved
(announced by a second `Answering` with `fallback_from`). A failure after the first token, or of
the fallback itself, raises `GenerationFailed`.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog

from chat.guards.breaker import breaker_for, counts_as_failure
from chat.providers import PromptMessage, Provider, ProviderError, StreamEvent, get_provider
from chat.providers.offline import MODEL_ID as OFFLINE_MODEL
from chat.providers.offline import OfflineProvider
from chat.reply.choice import ModelChoice
from chat.reply.retrieval import Passage
from chat.signals import provider_failed, send_now

log = structlog.get_logger(__name__)

FALLBACK = "offline"


@dataclass(frozen=True)
class Answering:
    """Who answers from here on; `fallback_from` says whom the offline answer replaces."""

    provider: str
    model: str
    fallback_from: dict | None = None


class GenerationFailed(Exception):
    """The model could not answer (`partial`: after some text was already streamed)."""

    def __init__(self, message: str, *, partial: bool) -> None:
        super().__init__(message)
        self.message = message
        self.partial = partial


_providers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, Provider]] = (
    weakref.WeakKeyDictionary()
)


def provider_for(choice: ModelChoice) -> Provider:
    """One provider instance per (provider, base URL, key) and event loop: SDK clients keep
    their connections and belong to their loop."""
    cache = _providers.setdefault(asyncio.get_running_loop(), {})
    key = (choice.provider, choice.base_url, hash(choice.api_key))
    if key not in cache:
        cache[key] = get_provider(choice.provider, api_key=choice.api_key, base_url=choice.base_url)
    return cache[key]


async def generate(
    choice: ModelChoice, messages: list[PromptMessage], *, passages: list[Passage]
) -> AsyncIterator[Answering | StreamEvent]:
    fallback_from = None
    if choice.provider == FALLBACK:
        fallback_from = None
    elif not breaker_for(choice.provider).allow():
        fallback_from = {"provider": choice.provider, "error": "circuit_open"}
    else:
        said_anything = False
        try:
            yield Answering(choice.provider, choice.model)
            async for event in _guarded(choice, messages):
                said_anything = said_anything or event.type == "token"
                yield event
            return
        except ProviderError as exc:
            if exc.partial or said_anything:
                raise GenerationFailed(_message(partial=True), partial=True) from exc
            fallback_from = {"provider": choice.provider, "error": exc.kind.value}
    offline = OfflineProvider.from_settings().for_passages(passages)
    yield Answering(FALLBACK, OFFLINE_MODEL, fallback_from)
    try:
        async for event in offline.stream(
            model=OFFLINE_MODEL, messages=messages, options=choice.options
        ):
            yield event
    except ProviderError as exc:
        raise GenerationFailed(_message(partial=exc.partial), partial=exc.partial) from exc


async def _guarded(choice: ModelChoice, messages: list[PromptMessage]):
    """The provider's stream, with its breaker told how the call went."""
    breaker = breaker_for(choice.provider)
    streamed = False
    try:
        async for event in provider_for(choice).stream(
            model=choice.model, messages=messages, options=choice.options
        ):
            streamed = streamed or event.type == "token"
            yield event
    except ProviderError as exc:
        log.warning(
            "provider_failed", provider=choice.provider, kind=exc.kind.value, partial=exc.partial
        )
        send_now(provider_failed, provider=choice.provider, kind=exc.kind.value)
        if counts_as_failure(exc):
            breaker.record_failure()
        raise
    except (asyncio.CancelledError, GeneratorExit):
        if streamed:  # stopped by the visitor while the provider was answering: it works
            breaker.record_success()
        raise
    breaker.record_success()


def _message(*, partial: bool) -> str:
    if partial:
        return "The answer was cut off because the model stopped responding. Press retry."
    return "The assistant is unavailable right now. Please try again in a moment."
