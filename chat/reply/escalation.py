"""When to hand the visitor to a person: they ask for one, they are plainly frustrated, they ask
the same thing again, or the assistant could not answer. One escalation per conversation."""

from __future__ import annotations

import re

from django.conf import settings

from chat.guards.cache import normalise_question

ASKS_FOR_PERSON = re.compile(
    r"\b(human|real person|a person|someone real|live agent|an agent|operator|customer service"
    r"|support team|speak (to|with) (someone|somebody)|talk (to|with) (someone|somebody))\b",
    re.IGNORECASE,
)
FRUSTRATED = re.compile(
    r"(\buseless\b|not helpful|doesn'?t help|does not help|\bfrustrat|\bannoying\b|\bridiculous\b"
    r"|\bstupid\b|makes no sense|you('re| are) wrong|that'?s wrong|not what i asked|!!+|\?\?+)",
    re.IGNORECASE,
)

MESSAGES = {
    "asked": "Of course: here is how to reach a person.",
    "frustrated": "Sorry this isn't going well. A person from our team can help you directly.",
    "repeated": "It seems my answers aren't helping. A person from our team can take it from here.",
    "unanswered": "I couldn't answer that. A person from our team can help you.",
}


def escalation_reason(*, question: str, earlier_questions: list[str], failed: bool) -> str:
    """Why this turn should offer a person ("" when it should not)."""
    if ASKS_FOR_PERSON.search(question):
        return "asked"
    if FRUSTRATED.search(question):
        return "frustrated"
    asked = normalise_question(question)
    if asked and asked in {normalise_question(q) for q in earlier_questions[-3:]}:
        return "repeated"
    if failed:
        return "unanswered"
    return ""


def escalation_offer(reason: str) -> dict:
    """What the visitor is told and whom they can reach (stored with the reply, replayed)."""
    return {
        "reason": reason,
        "message": MESSAGES[reason],
        "contact": dict(settings.CONCIERGE_SUPPORT),
    }
