"""A deterministic stand-in for the LLM, for browser and multi-process tests.

Only the model is fake: the consumer, the database, the channel layer and the browser are real.
The reply depends on the last user message:

- `say:<text>` replies with exactly `<text>` (one leading space after the colon is dropped), cut
  into pieces of a few characters, so tests can feed hostile Markdown or HTML through the stack;
- `fail:<text>` replies with `<text>` and then fails (an `interrupted` reply);
- anything else gets `DEFAULT_REPLY`, a few sentences of Markdown with **bold** and a list,
  streamed word by word.

`SCRIPTED_TOKEN_DELAY` (seconds, default 0.05) is the pause before each piece.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from chat.providers.base import (
    ErrorKind,
    GenerationOptions,
    ModelInfo,
    PromptMessage,
    Provider,
    ProviderError,
    ProviderHealth,
    StreamEvent,
    Usage,
    estimate_tokens,
)

DEFAULT_REPLY = (
    "Hello! I am the **scripted** assistant used by the tests. "
    "Here is what I can do:\n\n"
    "- answer questions about this site\n"
    "- point you to the *help* pages\n"
    "- hand you over to a person\n\n"
    "Ask me anything else and I will give you this same answer, one word at a time."
)
SAY = "say:"
DATA_CLOSE = "<</visitor-data>>"  # chat.reply.prompt.DATA_CLOSE: the question follows it
FAIL = "fail:"
PIECE_CHARS = 3


def script_for(question: str) -> tuple[list[str], bool]:
    """Return the pieces to stream for `question`, and whether to fail after them."""
    for prefix, fails in ((SAY, False), (FAIL, True)):
        if question.startswith(prefix):
            text = question[len(prefix) :]
            text = text[1:] if text.startswith(" ") else text
            return [text[i : i + PIECE_CHARS] for i in range(0, len(text), PIECE_CHARS)], fails
    words = DEFAULT_REPLY.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)], False


class ScriptedProvider(Provider):
    name = "scripted"

    async def _stream(
        self, *, model: str, messages: list[PromptMessage], options: GenerationOptions
    ) -> AsyncIterator[StreamEvent]:
        turn = next((m.content for m in reversed(messages) if m.role == "user"), "")
        question = turn.rsplit(DATA_CLOSE, 1)[-1].strip()  # after the visitor's data section
        pieces, fails = script_for(question)
        delay = float(os.environ.get("SCRIPTED_TOKEN_DELAY", "0.05"))
        for piece in pieces:
            await asyncio.sleep(delay)
            yield StreamEvent(type="token", text=piece)
        if fails:
            raise ProviderError("The scripted model failed on purpose.", kind=ErrorKind.UPSTREAM)
        prompt_tokens = sum(estimate_tokens(m.content) for m in messages)
        usage = Usage(prompt_tokens, estimate_tokens("".join(pieces)), estimated=True)
        yield StreamEvent(type="usage", usage=usage)

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("scripted")]

    async def health(self) -> ProviderHealth:
        return ProviderHealth(reachable=True, models_available=1)
