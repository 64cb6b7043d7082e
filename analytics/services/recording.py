"""Record what chat reports: one fact per reply, the conversation's running totals, the rollups.

Called off the reply path: by the batching writer (analytics/services/writer.py), which records
the events queued by the receivers of chat's signals, a batch in one transaction
(analytics/services/batch.py). A reply is recorded once (its id is unique); a signal delivered
twice changes nothing. The events and the dimensions are analytics/services/events.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from django.db import IntegrityError, transaction

from analytics.models import ReplyFact
from analytics.services.batch import Batch, gap_file
from analytics.services.events import (  # noqa: F401 - tests build events through recording
    EscalationEvent,
    Event,
    RatingEvent,
    ReplyEvent,
)

log = structlog.get_logger(__name__)


def events_record(events: Sequence[Event]) -> list:
    """Record `events` in arrival order, all in one transaction: a rating that follows its
    conversation's first reply in the same batch finds the conversation. The increments of each
    rollup row are summed in memory first, so the batch writes each row once. Return one result
    per event, as `reply_record`, `rating_record` and `escalation_record` do. Knowledge gaps
    are filed after commit (grouping a question may embed it: never inside the transaction)."""
    with transaction.atomic():
        batch = Batch(events)
        results = [batch.apply(event) for event in events]
        batch.save()
    for fact, reason in batch.gaps:
        gap_file(fact, reason=reason)
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
