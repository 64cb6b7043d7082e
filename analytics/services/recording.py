"""Record what chat reports: one fact per reply, the conversation's running totals, the rollups.

Called off the reply path: by the batching writer (analytics/services/writer.py), which records
the events queued by the receivers of chat's signals, a batch in one transaction. A reply is
recorded once (its id is unique); a signal delivered twice changes nothing. A batch reads the
conversations it touches locked (`select_for_update`), changes them and the rollups in memory,
then writes each row once: rollup rows with F() increments, so concurrent writers (another
process) never lose a count. Every batch locks and writes rows in one order (conversations by
session, rollup rows by model and key), so two processes' overlapping batches wait on each other
in turn instead of deadlocking (PostgreSQL would abort one).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
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


def events_record(events: Sequence[Event]) -> list:
    """Record `events` in arrival order, all in one transaction: a rating that follows its
    conversation's first reply in the same batch finds the conversation. The increments of each
    rollup row are summed in memory first, so the batch writes each row once. Return one result
    per event, as `reply_record`, `rating_record` and `escalation_record` do. Knowledge gaps
    are filed after commit (grouping a question may embed it: never inside the transaction)."""
    with transaction.atomic():
        batch = _Batch(events)
        results = [batch.apply(event) for event in events]
        batch.save()
    for fact, reason in batch.gaps:
        _gap_file(fact, reason=reason)
    return results


def reply_record(*, reply, synthetic: bool = False) -> ReplyFact | None:
    """Record one `FinishedReply` (None when it was recorded before: its id is unique)."""
    return event_record(ReplyEvent(reply=reply, synthetic=synthetic))


def rating_record(*, session_id, score: int, comment: str) -> bool:
    """Record (or change) a conversation's rating; False when the conversation is unknown."""
    return event_record(RatingEvent(session_id=session_id, score=score, comment=comment))


def escalation_record(*, session_id, reason: str) -> bool:
    """Mark a conversation escalated (True when this changed it). The reply that offered a person
    carries the reason too, so whichever signal arrives first records it, once."""
    return event_record(EscalationEvent(session_id=session_id, reason=reason))


def event_record(event: Event):
    """Record one event in a transaction of its own (see `events_record`). Another thread or
    process may insert the same reply or conversation between our read and our insert: the
    transaction then fails whole, and the second attempt reads the row the other created."""
    try:
        return events_record([event])[0]
    except IntegrityError:
        log.info("analytics_record_retried", kind=type(event).__name__)
        return events_record([event])[0]


def _fact_from(reply, *, synthetic: bool) -> ReplyFact:
    finished = reply.finished_at or timezone.now()
    asker = reply.asker
    return ReplyFact(
        reply_id=_uuid(reply.reply_id),
        question_id=reply.question_id or None,
        session_id=_uuid(reply.session_id),
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


class _Batch:
    """The rows a batch of events changes, held in memory until `save`: the reply facts to
    insert, the conversations it touches (locked as they are read), and the sum of the
    increments of each rollup row."""

    def __init__(self, events: Sequence[Event]):
        reply_ids = {_uuid(e.reply.reply_id) for e in events if isinstance(e, ReplyEvent)}
        self.recorded = set(
            ReplyFact.objects.filter(reply_id__in=reply_ids).values_list("reply_id", flat=True)
        )
        sessions = {_uuid(_session_of(event)) for event in events}
        # locked in session_id order, as every batch saves them: two processes never wait on
        # each other's rows crosswise (a deadlock on PostgreSQL)
        locked = ConversationFact.objects.select_for_update().filter(session_id__in=sessions)
        self.conversations = {c.session_id: c for c in locked.order_by("session_id")}
        self.created: set[uuid.UUID] = set()
        self.changed: set[uuid.UUID] = set()
        self.facts: list[ReplyFact] = []
        self.gaps: list[tuple[ReplyFact, str]] = []
        self.increments: dict[tuple, _Increment] = {}

    def apply(self, event: Event):
        if isinstance(event, ReplyEvent):
            return self.reply_add(event.reply, synthetic=event.synthetic)
        if isinstance(event, RatingEvent):
            return self.rating_set(event)
        return self.escalation_set(event)

    def save(self) -> None:
        """Write the rows in one order for every batch (conversations by session, rollup rows
        by model and key), so concurrent batches lock shared rows in the same order."""
        ReplyFact.objects.bulk_create(self.facts)
        created = sorted(self.created)
        ConversationFact.objects.bulk_create([self.conversations[s] for s in created])
        for session_id in sorted(self.changed - self.created):
            self.conversations[session_id].save()
        for identity in sorted(self.increments, key=_lock_order):
            increment = self.increments[identity]
            _add(increment.model, key=increment.key, changes=increment.changes,
                 defaults=increment.defaults)  # fmt: skip

    def add(self, model, *, key: dict, changes: dict, defaults: dict | None = None) -> None:
        """Add `changes` to the row of `key` when the batch is saved."""
        identity = (model, tuple(key.items()))
        increment = self.increments.setdefault(identity, _Increment(model, key, defaults or {}))
        for name, delta in changes.items():
            increment.changes[name] = increment.changes.get(name, 0) + delta

    def reply_add(self, reply, *, synthetic: bool) -> ReplyFact | None:
        fact = _fact_from(reply, synthetic=synthetic)
        if fact.reply_id in self.recorded:
            log.info("analytics_reply_already_recorded", reply_id=str(fact.reply_id))
            return None
        self.recorded.add(fact.reply_id)
        self.facts.append(fact)
        conversation, created = self.conversation_add(fact)
        self.rollups_add(fact, conversation=conversation, new_conversation=created)
        if fact.is_gap:
            self.gaps.append((fact, gap_reason(reply)))
        return fact

    def conversation_add(self, fact: ReplyFact) -> tuple[ConversationFact, bool]:
        """Add a reply to its conversation's totals (creating it with the reply's dimensions)."""
        conversation = self.conversations.get(fact.session_id)
        created = conversation is None
        if created:
            conversation = _conversation_new(fact)
            self.conversations[fact.session_id] = conversation
            self.created.add(fact.session_id)
        was_resolved, was_escalated = conversation.resolved, conversation.escalated
        _conversation_totals_add(conversation, fact)
        self.changed.add(fact.session_id)
        if not created:
            self.conversation_rollup_adjust(
                conversation,
                escalated=int(conversation.escalated) - int(was_escalated),
                resolved=int(conversation.resolved) - int(was_resolved),
            )
        return conversation, created

    def rollups_add(self, fact, *, conversation: ConversationFact, new_conversation: bool):
        dims = Dimensions(fact.user_type, fact.universe, fact.provider, fact.model, fact.synthetic)
        changes = _reply_changes(fact)
        if new_conversation:
            changes.update(
                conversations=1,
                escalated=int(conversation.escalated),
                resolved=int(conversation.resolved),
            )
        self.rollup_bump(day=fact.day, dims=dims, changes=changes, ttft_ms=fact.ttft_ms)
        for kind, key in ((DailyCount.Kind.TOPIC, fact.topic),
                          (DailyCount.Kind.PAGE, page_key(fact.page_url))):  # fmt: skip
            if key:
                self.add(DailyCount, key={"day": fact.day, "kind": kind, "key": key,
                                          **dims.as_dict()}, changes={"count": 1})  # fmt: skip
        self.add(
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

    def rollup_bump(self, *, day, dims: Dimensions, changes: dict, ttft_ms: int | None = None):
        """Add `changes` (and one reply to its time-to-first-token bucket) to a rollup row."""
        if ttft_ms is not None:
            changes = {**changes, f"ttft_{ttft_bucket(ttft_ms)}": 1}
        self.add(DailyRollup, key={"day": day, **dims.as_dict()}, changes=changes)

    def conversation_rollup_adjust(self, conversation: ConversationFact, **changes: int) -> None:
        changes = {name: delta for name, delta in changes.items() if delta}
        if changes:
            dims = _conversation_dims(conversation)
            self.rollup_bump(day=conversation.day, dims=dims, changes=changes)

    def conversation_known(self, session_id) -> ConversationFact | None:
        return self.conversations.get(_uuid(session_id))

    def escalation_set(self, event: EscalationEvent) -> bool:
        conversation = self.conversation_known(event.session_id)
        if conversation is None or conversation.escalated:
            return False
        was_resolved = conversation.resolved
        conversation.escalated = True
        conversation.escalation_reason = event.reason[:20]
        conversation.resolved = conversation_is_resolved(conversation)
        self.changed.add(conversation.session_id)
        self.conversation_rollup_adjust(
            conversation, escalated=1, resolved=int(conversation.resolved) - int(was_resolved)
        )
        return True

    def rating_set(self, event: RatingEvent) -> bool:
        conversation = self.conversation_known(event.session_id)
        if conversation is None:
            log.info("analytics_rating_without_conversation", session_id=str(event.session_id))
            return False
        previous, was_resolved = conversation.rating, conversation.resolved
        conversation.rating = event.score
        conversation.rating_comment = event.comment[:2000]
        conversation.resolved = conversation_is_resolved(conversation)
        self.changed.add(conversation.session_id)
        changes = {f"rating_{event.score}": 1,
                   "resolved": int(conversation.resolved) - int(was_resolved)}  # fmt: skip
        if previous is None:
            changes["rated"] = 1
        elif previous != event.score:
            changes[f"rating_{previous}"] = -1
        else:
            changes[f"rating_{event.score}"] = 0
        self.conversation_rollup_adjust(conversation, **changes)
        return True


@dataclass
class _Increment:
    model: type
    key: dict
    defaults: dict
    changes: dict = field(default_factory=dict)


def _lock_order(identity: tuple) -> tuple:
    """A total order on rollup rows (`(model, key items)`): a key's values may be None, an int,
    a date or a string, so compare them as text; the same in every process is all that counts."""
    model, items = identity
    return model._meta.label, tuple((name, value is None, str(value)) for name, value in items)


def _uuid(value) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _session_of(event: Event):
    return event.reply.session_id if isinstance(event, ReplyEvent) else event.session_id


def _conversation_new(fact: ReplyFact) -> ConversationFact:
    return ConversationFact(
        session_id=fact.session_id,
        started_at=fact.finished_at,
        day=fact.day,
        last_at=fact.finished_at,
        user_id=fact.user_id,
        visitor_key=fact.visitor_key,
        user_type=fact.user_type,
        universe=fact.universe,
        provider=fact.provider,
        model=fact.model,
        first_page=fact.page_url,
        synthetic=fact.synthetic,
    )


def _conversation_totals_add(conversation: ConversationFact, fact: ReplyFact) -> None:
    conversation.last_at = max(conversation.last_at, fact.finished_at)
    page = page_key(fact.page_url)
    if page and page not in conversation.pages and len(conversation.pages) < 20:
        conversation.pages = [*conversation.pages, page]
    conversation.messages += 1 if fact.regenerated else 2
    conversation.replies += 1
    if fact.status in REPLY_STATUSES:
        status_field = f"replies_{fact.status}"
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
    if fact.escalation_reason and not conversation.escalated:
        conversation.escalated = True
        conversation.escalation_reason = fact.escalation_reason
    conversation.resolved = conversation_is_resolved(conversation)


def _reply_changes(fact: ReplyFact) -> dict[str, int | Decimal]:
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
    return changes


def _add(model, *, key: dict, changes: dict, defaults: dict | None = None) -> None:
    """Add `changes` to the row of `key` in one UPDATE (F() increments: concurrent writers never
    lose a count), creating the row the first time."""
    updates = {name: F(name) + delta for name, delta in changes.items() if delta}
    if not updates or model.objects.filter(**key).update(**updates):
        return
    try:
        with transaction.atomic():
            model.objects.create(**key, **(defaults or {}), **changes)
    except IntegrityError:  # another process created it meanwhile
        model.objects.filter(**key).update(**updates)


def ttft_bucket(ttft_ms: int) -> int:
    for index, bound in enumerate(TTFT_BUCKETS_MS):
        if ttft_ms <= bound:
            return index
    return len(TTFT_BUCKETS_MS)


def _conversation_dims(conversation: ConversationFact) -> Dimensions:
    return Dimensions(
        conversation.user_type,
        conversation.universe,
        conversation.provider,
        conversation.model,
        conversation.synthetic,
    )


def _gap_file(fact: ReplyFact, *, reason: str) -> None:
    try:
        gap_record(
            reply_id=fact.reply_id,
            session_id=fact.session_id,
            question=fact.question,
            reason=reason,
            asked_at=fact.finished_at,
            synthetic=fact.synthetic,
        )
    except Exception:  # noqa: BLE001 - the facts are committed: a gap lost is logged, no more
        log.exception("analytics_gap_failed", reply_id=str(fact.reply_id))
