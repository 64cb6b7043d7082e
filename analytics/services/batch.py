"""One batch of analytics events, applied in memory and written once (see recording.py).

A batch reads the conversations it touches locked (`select_for_update`), changes them and the
rollups in memory, then writes each row once: rollup rows with F() increments, so concurrent
writers (another process) never lose a count. Every batch locks and writes rows in one order
(conversations by session, rollup rows by model and key), so two processes' overlapping batches
wait on each other in turn instead of deadlocking (PostgreSQL would abort one).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import structlog
from django.db import IntegrityError, transaction
from django.db.models import F

from analytics.models import (
    TTFT_BUCKETS_MS,
    ConversationFact,
    DailyCount,
    DailyRollup,
    OwnerDay,
    ReplyFact,
)
from analytics.services.events import (
    REPLY_STATUSES,
    Dimensions,
    EscalationEvent,
    Event,
    RatingEvent,
    ReplyEvent,
    conversation_is_resolved,
    fact_from,
    gap_reason,
    page_key,
    session_of,
    uuid_of,
)
from analytics.services.gaps import gap_record

log = structlog.get_logger(__name__)


class Batch:
    """The rows a batch of events changes, held in memory until `save`: the reply facts to
    insert, the conversations it touches (locked as they are read), and the sum of the
    increments of each rollup row."""

    def __init__(self, events: Sequence[Event]):
        reply_ids = {uuid_of(e.reply.reply_id) for e in events if isinstance(e, ReplyEvent)}
        self.recorded = set(
            ReplyFact.objects.filter(reply_id__in=reply_ids).values_list("reply_id", flat=True)
        )
        sessions = {uuid_of(session_of(event)) for event in events}
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
            row_add(increment.model, key=increment.key, changes=increment.changes,
                 defaults=increment.defaults)  # fmt: skip

    def add(self, model, *, key: dict, changes: dict, defaults: dict | None = None) -> None:
        """Add `changes` to the row of `key` when the batch is saved."""
        identity = (model, tuple(key.items()))
        increment = self.increments.setdefault(identity, _Increment(model, key, defaults or {}))
        for name, delta in changes.items():
            increment.changes[name] = increment.changes.get(name, 0) + delta

    def reply_add(self, reply, *, synthetic: bool) -> ReplyFact | None:
        fact = fact_from(reply, synthetic=synthetic)
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
        return self.conversations.get(uuid_of(session_id))

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


def row_add(model, *, key: dict, changes: dict, defaults: dict | None = None) -> None:
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


def gap_file(fact: ReplyFact, *, reason: str) -> None:
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
