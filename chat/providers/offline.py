"""The `offline` provider: no model, an honest answer from the knowledge base's best entry.

It is the provider of last resort (no key, the model server down), so it must never fail and
must never pretend to be a model: every answer says where it came from, links the article, and
cuts a long one at a paragraph or sentence end rather than mid-word.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog

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
from chat.reply.retrieval import Passage

log = structlog.get_logger(__name__)

MODEL_ID = "knowledge-base"
BODY_LIMIT = 700
RELATED_LIMIT = 2
INTRO = (
    "*I'm running without a language model right now, so here is the closest answer "
    "from the help center.*"
)
NOTHING_FOUND = (
    "I'm running without a language model right now, and I found nothing in the help center "
    "that matches your question. Please rephrase it, or contact a person (see Help)."
)


def offline_answer(passages: list[Passage]) -> str:
    """Quote the best passage, labelled and linked; mention the next ones; or say none matched."""
    if not passages:
        return NOTHING_FOUND
    best, others = passages[0], passages[1 : 1 + RELATED_LIMIT]
    parts = [INTRO, f"**{best.title}**", shorten(best.body, BODY_LIMIT)]
    if best.url:
        parts.append(f"Read the article in the help center: [{best.title}]({best.url})")
    if best.attribution:
        parts.append(f"*Source: {best.attribution}*")
    if others:
        parts.append(
            "Related: " + "; ".join(f"[{p.title}]({p.url})" if p.url else p.title for p in others)
        )
    return "\n\n".join(parts)


def shorten(text: str, limit: int) -> str:
    """Cut Markdown to at most about `limit` characters, at the last paragraph, sentence or word
    end, closing a code fence left open."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[:limit]
    for stop, keep in (("\n\n", 0), (". ", 1), ("\n", 0), (" ", 0)):
        position = cut.rfind(stop)
        if position >= limit // 2:
            cut = cut[: position + keep]
            break
    cut = cut.rstrip() + " …"
    if cut.count("```") % 2:
        cut += "\n```"
    return cut


class OfflineProvider(Provider):
    """Answers from passages already retrieved for the question (the reply path passes them:
    `for_passages`); it never searches itself."""

    name = "offline"

    def __init__(self, *, passages: list[Passage] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.passages = list(passages or [])

    def for_passages(self, passages: list[Passage]) -> OfflineProvider:
        """This provider, answering from `passages`."""
        return OfflineProvider(passages=passages, timeouts=self.timeouts, max_retries=0)

    async def _stream(
        self, *, model: str, messages: list[PromptMessage], options: GenerationOptions
    ) -> AsyncIterator[StreamEvent]:
        answer = offline_answer(self.passages)
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
