"""The `offline` provider: no model, an honest answer from the knowledge base's best entry.

It is the provider of last resort (no key, the model server down), so it must never fail and
must never pretend to be a model: every answer says where it came from.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async

from chat import retrieval
from chat.providers.base import (
    GenerationOptions,
    ModelInfo,
    PromptMessage,
    Provider,
    ProviderHealth,
    StreamEvent,
    Usage,
    estimate_tokens,
)

MODEL_ID = "knowledge-base"
NOTHING_FOUND = (
    "I'm running without a language model right now, and I found nothing in the help center "
    "that matches your question. Please rephrase it, or contact a person (see Help)."
)


def offline_answer(passages: list[retrieval.Passage]) -> str:
    if not passages:
        return NOTHING_FOUND
    best = passages[0]
    link = f"\n\nSource: [{best.title}]({best.url})" if best.url else ""
    return (
        "*I'm running without a language model right now, so here is the closest answer "
        f"from the help center.*\n\n**{best.title}**\n\n{best.body.strip()}{link}"
    )


class OfflineProvider(Provider):
    name = "offline"

    async def _stream(
        self, *, model: str, messages: list[PromptMessage], options: GenerationOptions
    ) -> AsyncIterator[StreamEvent]:
        question = next((m.content for m in reversed(messages) if m.role == "user"), "")
        passages = await sync_to_async(retrieval.retrieve)(question, limit=1)
        answer = offline_answer(passages)
        # Stream word by word so clients see the same shape of reply as from a model.
        for piece in _chunks(answer):
            yield StreamEvent(type="token", text=piece)
        prompt_tokens = sum(estimate_tokens(m.content) for m in messages)
        usage = Usage(prompt_tokens, estimate_tokens(answer), estimated=True)
        yield StreamEvent(type="usage", usage=usage)

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(id=MODEL_ID, owned_by="concierge")]

    async def health(self) -> ProviderHealth:
        return ProviderHealth(reachable=True, models_available=1)


def _chunks(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
