"""Record what chat reports: one fact per reply, the conversation's running totals, the rollups.

Called by the receivers of chat's signals from a worker thread after commit, never on the reply
path. A reply is recorded once (its id is unique); a signal delivered twice changes nothing.
All rows of one reply change in one transaction; rollup rows are locked while they change
(`select_for_update`), so concurrent replies never lose a count.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

import structlog
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from analytics.models import (
    TTFT_BUCKETS_MS,
    ConversationFact,
    DailyCount,
    DailyRollup,
    OwnerDay,
    ReplyFact,
)
from analytics.pricing import reply_cost
from analytics.services.gaps import gap_record

log = structlog.get_logger(__name__)

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


def reply_record(*, reply, synthetic: bool = False) -> ReplyFact | None:
    """Record one `FinishedReply` (None when it was recorded before: its id is unique)."""
    fact = _fact_from(reply, synthetic=synthetic)
    try:
        with transaction.atomic():
            fact.save(force_insert=True)
            conversation, created = _conversation_add(fact)
            _rollups_add(fact, conversation=conversation, new_conversation=created)
    except IntegrityError:
        log.info("analytics_reply_already_recorded", reply_id=str(reply.reply_id))
        return None
    if fact.is_gap:
        gap_record(
            reply_id=fact.reply_id,
            session_id=fact.session_id,
            question=fact.question,
            reason=gap_reason(reply),
            asked_at=fact.finished_at,
            synthetic=synthetic,
        )
    return fact


def _fact_from(reply, *, synthetic: bool) -> ReplyFact:
    finished = reply.finished_at or timezone.now()
    asker = reply.asker
    return ReplyFact(
        reply_id=reply.reply_id,
        question_id=reply.question_id or None,
        session_id=reply.session_id,
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


def _conversation_add(fact: ReplyFact) -> tuple[ConversationFact, bool]:
    """Add a reply to its conversation's totals (creating it with the reply's dimensions)."""
    conversation, created = ConversationFact.objects.select_for_update().get_or_create(
        session_id=fact.session_id,
        defaults={
            "started_at": fact.finished_at,
            "day": fact.day,
            "last_at": fact.finished_at,
            "user_id": fact.user_id,
            "visitor_key": fact.visitor_key,
            "user_type": fact.user_type,
            "universe": fact.universe,
            "provider": fact.provider,
            "model": fact.model,
            "first_page": fact.page_url,
            "synthetic": fact.synthetic,
        },
    )
    was_resolved = conversation.resolved if not created else None
    conversation.last_at = max(conversation.last_at, fact.finished_at)
    page = page_key(fact.page_url)
    if page and page not in conversation.pages and len(conversation.pages) < 20:
        conversation.pages = [*conversation.pages, page]
    conversation.messages += 1 if fact.regenerated else 2
    conversation.replies += 1
    status_field = f"replies_{fact.status}"
    if fact.status in REPLY_STATUSES:
        setattr(conversation, status_field, getattr(conversation, status_field) + 1)
    if fact.ttft_ms is not None:
        if conversation.first_ttft_ms is None:
            conversation.first_ttft_ms = fact.ttft_ms
        conversation.ttft_sum_ms += fact.ttft_ms
        conversation.ttft_count += 1
    conversation.total_ms += fact.total_ms
    conversation.input_tokens += fact.input_tokens
    conversation.output_tokens += fact.output_tokens
    conversation.cost += fact.cost
    conversation.cache_hits += int(fact.cached)
    conversation.fallbacks += int(fact.fallback)
    conversation.gaps += int(fact.is_gap)
    escalated_now = bool(fact.escalation_reason) and not conversation.escalated
    if escalated_now:
        conversation.escalated = True
        conversation.escalation_reason = fact.escalation_reason
    conversation.resolved = conversation_is_resolved(conversation)
    conversation.save()
    if not created:
        _conversation_rollup_adjust(
            conversation,
            escalated=int(escalated_now),
            resolved=int(conversation.resolved) - int(was_resolved),
        )
    return conversation, created


def conversation_is_resolved(conversation: ConversationFact) -> bool:
    """See RESOLVED_DEFINITION."""
    low_rating = conversation.rating is not None and conversation.rating < 3
    return not conversation.escalated and conversation.gaps == 0 and not low_rating


def _rollups_add(fact: ReplyFact, *, conversation: ConversationFact, new_conversation: bool):
    dims = Dimensions(fact.user_type, fact.universe, fact.provider, fact.model, fact.synthetic)
    changes: dict[str, int | Decimal] = {
        "messages": 1 if fact.regenerated else 2,
        "replies": 1,
        "input_tokens": fact.input_tokens,
        "output_tokens": fact.output_tokens,
        "cost": fact.cost,
        "cache_hits": int(fact.cached),
        "fallbacks": int(fact.fallback),
        "checked": int(bool(fact.verdict)),
        "grounded": int(fact.verdict == "grounded"),
        "gaps": int(fact.is_gap),
    }
    if fact.status in REPLY_STATUSES:
        changes[f"replies_{fact.status}"] = 1
    if new_conversation:
        changes.update(
            conversations=1,
            escalated=int(conversation.escalated),
            resolved=int(conversation.resolved),
        )
    rollup_bump(day=fact.day, dims=dims, changes=changes, ttft_ms=fact.ttft_ms)
    for kind, key in ((DailyCount.Kind.TOPIC, fact.topic), (DailyCount.Kind.PAGE,
                                                             page_key(fact.page_url))):
        if key:
            _count_bump(day=fact.day, dims=dims, kind=kind, key=key)
    _owner_bump(fact)


def _add(model, *, key: dict, changes: dict, defaults: dict | None = None) -> None:
    """Add `changes` to the row of `key` in one UPDATE (F() increments: concurrent replies never
    lose a count), creating the row the first time."""
    updates = {name: F(name) + delta for name, delta in changes.items() if delta}
    if not updates or model.objects.filter(**key).update(**updates):
        return
    try:
        with transaction.atomic():
            model.objects.create(**key, **(defaults or {}), **changes)
    except IntegrityError:  # another reply created it meanwhile
        model.objects.filter(**key).update(**updates)


def rollup_bump(*, day, dims: Dimensions, changes: dict, ttft_ms: int | None = None) -> None:
    """Add `changes` (and one reply to its time-to-first-token bucket) to a rollup row."""
    if ttft_ms is not None:
        changes = {**changes, f"ttft_{ttft_bucket(ttft_ms)}": 1}
    _add(DailyRollup, key={"day": day, **dims.as_dict()}, changes=changes)


def ttft_bucket(ttft_ms: int) -> int:
    for index, bound in enumerate(TTFT_BUCKETS_MS):
        if ttft_ms <= bound:
            return index
    return len(TTFT_BUCKETS_MS)


def _count_bump(*, day, dims: Dimensions, kind: str, key: str) -> None:
    _add(DailyCount, key={"day": day, "kind": kind, "key": key, **dims.as_dict()},
         changes={"count": 1})  # fmt: skip


def _owner_bump(fact: ReplyFact) -> None:
    _add(
        OwnerDay,
        key={
            "day": fact.day,
            "user_id": fact.user_id,
            "visitor_key": "" if fact.user_id is not None else fact.visitor_key,
            "synthetic": fact.synthetic,
        },
        defaults={"user_type": fact.user_type},
        changes={
            "replies": 1,
            "input_tokens": fact.input_tokens,
            "output_tokens": fact.output_tokens,
            "cost": fact.cost,
        },
    )


def _conversation_dims(conversation: ConversationFact) -> Dimensions:
    return Dimensions(
        conversation.user_type,
        conversation.universe,
        conversation.provider,
        conversation.model,
        conversation.synthetic,
    )


def _conversation_rollup_adjust(conversation: ConversationFact, **changes: int) -> None:
    changes = {name: delta for name, delta in changes.items() if delta}
    if changes:
        rollup_bump(day=conversation.day, dims=_conversation_dims(conversation), changes=changes)


def escalation_record(*, session_id, reason: str) -> bool:
    """Mark a conversation escalated (True when this changed it). The reply that offered a person
    carries the reason too, so whichever signal arrives first records it, once."""
    with transaction.atomic():
        conversation = (
            ConversationFact.objects.select_for_update().filter(session_id=session_id).first()
        )
        if conversation is None or conversation.escalated:
            return False
        was_resolved = conversation.resolved
        conversation.escalated = True
        conversation.escalation_reason = reason[:20]
        conversation.resolved = conversation_is_resolved(conversation)
        conversation.save(update_fields=["escalated", "escalation_reason", "resolved"])
        _conversation_rollup_adjust(
            conversation, escalated=1, resolved=int(conversation.resolved) - int(was_resolved)
        )
    return True


def rating_record(*, session_id, score: int, comment: str) -> bool:
    """Record (or change) a conversation's rating; False when the conversation is unknown."""
    with transaction.atomic():
        conversation = (
            ConversationFact.objects.select_for_update().filter(session_id=session_id).first()
        )
        if conversation is None:
            log.info("analytics_rating_without_conversation", session_id=str(session_id))
            return False
        previous, was_resolved = conversation.rating, conversation.resolved
        conversation.rating = score
        conversation.rating_comment = comment[:2000]
        conversation.resolved = conversation_is_resolved(conversation)
        conversation.save(update_fields=["rating", "rating_comment", "resolved"])
        changes = {f"rating_{score}": 1, "resolved": int(conversation.resolved) - int(was_resolved)}
        if previous is None:
            changes["rated"] = 1
        elif previous != score:
            changes[f"rating_{previous}"] = -1
        else:
            changes[f"rating_{score}"] = 0
        _conversation_rollup_adjust(conversation, **changes)
    return True

