"""Realistic chat payloads for the analytics listeners (the shapes of chat/signals.py)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

from chat.signals import Asker, ConversationEscalated, ConversationRated, FinishedReply

VISITOR = Asker(user_id=None, visitor_key="visitor-a", kind="anonymous")


def asker(kind: str = "anonymous", user_id: int | None = None, role: str = "",
          visitor_key: str = "visitor-a") -> Asker:  # fmt: skip
    return Asker(user_id=user_id, visitor_key=visitor_key, kind=kind, role=role)


def finished_reply(**overrides) -> FinishedReply:
    """A complete, grounded reply of gpt-4o-mini on the home page, unless told otherwise."""
    base = FinishedReply(
        reply_id=str(uuid.uuid4()),
        question_id=str(uuid.uuid4()),
        session_id=str(uuid.uuid4()),
        asker=VISITOR,
        question="How do I reset my password?",
        status="complete",
        provider="openai",
        model="gpt-4o-mini",
        universe="general",
        page_url="https://shop.example.com/account/?tab=security",
        input_tokens=1000,
        output_tokens=200,
        usage_estimated=False,
        ttft_ms=420,
        total_ms=2100,
        cached=False,
        fallback=False,
        error_code="",
        sources=[{"id": 7, "title": "Resetting your password", "url": "/help/reset/"}],
        top_passage_score=0.81,
        intent="account",
        verdict="grounded",
        escalation_reason="",
        regenerated=False,
        finished_at=datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
    )
    return replace(base, **overrides)


def rated(session_id: str, score: int, comment: str = "", who: Asker = VISITOR):
    return ConversationRated(session_id=session_id, asker=who, score=score, comment=comment,
                             rated_at=datetime(2026, 11, 24, 11, 0, tzinfo=UTC))  # fmt: skip


def escalated(session_id: str, reason: str = "asked", reply_id: str = "", who: Asker = VISITOR):
    return ConversationEscalated(
        session_id=session_id,
        reply_id=reply_id or str(uuid.uuid4()),
        asker=who,
        reason=reason,
        escalated_at=datetime(2026, 11, 24, 11, 0, tzinfo=UTC),
    )
