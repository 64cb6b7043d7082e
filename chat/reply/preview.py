"""The exact prompt a question would get, without storing anything.

`manage.py ask` answers through it and `manage.py prompt_preview` and the staff page show it:
the same choice, context and builder as a real reply (chat.reply.lifecycle), so what staff see is
what the model gets, part by part with sources and token counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from chat.config import assistant_config
from chat.db import db_async
from chat.identity import Owner, asker_for
from chat.models import ChatMessage
from chat.reply.choice import ModelChoice, choice_resolve
from chat.reply.context import ReplyInput, context_gather
from chat.reply.prompt import Prompt, PromptBuilder
from chat.reply.tokens import counter_for
from chat.selectors import ReplyMaterial

ANONYMOUS = Owner(user_id=None, visitor_key="prompt-preview")
_asker_for = db_async(asker_for)


@dataclass(frozen=True)
class Preview:
    choice: ModelChoice
    reply_input: ReplyInput
    prompt: Prompt


async def prompt_preview(
    question: str,
    *,
    universe: str = "",
    page: dict | None = None,
    context: dict | None = None,
    owner: Owner = ANONYMOUS,
    language: str = "",
) -> Preview:
    """Build the prompt `question` would get as a first turn (raises ChatError for an unknown
    universe)."""
    config = assistant_config()
    choice = choice_resolve(config=config)
    metadata = {"context": context} if context else {}
    material = ReplyMaterial(
        question=ChatMessage(role=ChatMessage.Role.USER, text=question, metadata=metadata),
        history=[],
        universe=universe,
        session_model="",
        session_options={},
        escalated=False,
        asker=await _asker_for(owner),
    )
    reply_input = await context_gather(
        material=material, page=page or {}, language=language, choice=choice
    )
    prompt = PromptBuilder(config, count=counter_for(choice.model)).build(reply_input)
    return Preview(choice=choice, reply_input=reply_input, prompt=prompt)


def preview_lines(preview: Preview) -> list[str]:
    """The preview as text: the choice, the route, then each part with its source and tokens."""
    route = preview.reply_input.route
    lines = [
        f"model: {preview.choice.label} (profile {preview.choice.profile})",
        f"universe: {route.universe} ({route.method}, intent {route.intent or '-'}, "
        f"confidence {route.confidence:.2f})",
        f"total: {preview.prompt.tokens} tokens in {len(preview.prompt.parts)} parts",
        "",
    ]
    for part in preview.prompt.parts:
        lines.append(f"--- {part.source} [{part.role}] {part.tokens} tokens: {part.title}")
        lines.append(part.text)
        lines.append("")
    return lines
