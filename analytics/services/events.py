"""What analytics records, as plain values: chat's events, the dashboard's dimensions, and the
fact a finished reply becomes (no database access here; analytics/services/batch.py writes)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.utils import timezone

from analytics.models import ConversationFact, ReplyFact
from analytics.pricing import reply_cost

RESOLVED_DEFINITION = (
    "A conversation is resolved when it was not escalated to a person, none of its questions "
    "went without a grounded answer (a knowledge gap), and it was not rated below 3."
)
REPLY_STATUSES = ("complete", "stopped", "failed", "interrupted")


def user_type_of(*, kind: str, role: str = "") -> str:
    """`anonymous`, `user` or `staff`, with the site's own role after a colon (`user:client`)."""
    return f"{kind}:{role}" if role else kind


def gap_reason(reply) -> str:
    """Why a reply is a knowledge gap ("" when it is not): no passage cleared the threshold,
    the visitor was offered a person as `unanswered`, or the check found it `ungrounded`."""
    if not reply.question.strip():
        return ""
    if reply.escalation_reason == "unanswered":
        return "unanswered"
    if reply.verdict == "ungrounded":
        return "ungrounded"
    if reply.top_passage_score is None and reply.status == "complete":
        return "no_passage"
    return ""


def page_key(url: str) -> str:
    """A page as the dashboard groups it: its path, without query or fragment."""
    if not url:
        return ""
    parts = urlsplit(url)
    return (parts.path or "/")[:500]


def topic_of(reply) -> str:
    """What a reply was about: the first help-center entry it cited, else the router's intent."""
    for source in reply.sources or ():
        title = str(source.get("title") or "").strip()
        if title:
            return title[:200]
    return (reply.intent or "")[:200]


@dataclass(frozen=True)
class Dimensions:
    """The dashboard's filters, as stored on rollup rows."""

    user_type: str
    universe: str
    provider: str
    model: str
    synthetic: bool

    def as_dict(self) -> dict:
        return {
            "user_type": self.user_type,
            "universe": self.universe,
            "provider": self.provider,
            "model": self.model,
            "synthetic": self.synthetic,
        }


@dataclass(frozen=True)
class ReplyEvent:
    """A reply to record: chat's `FinishedReply` (`synthetic` for the demo's)."""

    reply: Any
    synthetic: bool = False


@dataclass(frozen=True)
class RatingEvent:
    """A conversation rated (or rated again)."""

    session_id: str
    score: int
    comment: str


@dataclass(frozen=True)
class EscalationEvent:
    """A conversation handed to a person."""

    session_id: str
    reason: str


Event = ReplyEvent | RatingEvent | EscalationEvent


def fact_from(reply, *, synthetic: bool) -> ReplyFact:
    finished = reply.finished_at or timezone.now()
    asker = reply.asker
    return ReplyFact(
        reply_id=uuid_of(reply.reply_id),
        question_id=reply.question_id or None,
        session_id=uuid_of(reply.session_id),
        finished_at=finished,
        day=timezone.localdate(finished),
        user_id=asker.user_id,
        visitor_key=asker.visitor_key[:64],
        user_type=user_type_of(kind=asker.kind, role=asker.role)[:80],
        universe=(reply.universe or "")[:50],
        page_url=(reply.page_url or "")[:500],
        topic=topic_of(reply),
        provider=reply.provider[:50],
        model=reply.model[:200],
        status=reply.status,
        error_code=(reply.error_code or "")[:40],
        input_tokens=max(reply.input_tokens, 0),
        output_tokens=max(reply.output_tokens, 0),
        cost=reply_cost(
            provider=reply.provider,
            model=reply.model,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            cached=reply.cached,
        ),
        ttft_ms=reply.ttft_ms,
        total_ms=max(reply.total_ms or 0, 0),
        cached=reply.cached,
        fallback=reply.fallback,
        top_passage_score=reply.top_passage_score,
        verdict=reply.verdict or "",
        escalation_reason=reply.escalation_reason or "",
        question=reply.question[:2000],
        regenerated=reply.regenerated,
        is_gap=bool(gap_reason(reply)),
        synthetic=synthetic,
    )


def conversation_is_resolved(conversation: ConversationFact) -> bool:
    """See RESOLVED_DEFINITION."""
    low_rating = conversation.rating is not None and conversation.rating < 3
    return not conversation.escalated and conversation.gaps == 0 and not low_rating


def uuid_of(value) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def session_of(event: Event):
    return event.reply.session_id if isinstance(event, ReplyEvent) else event.session_id
