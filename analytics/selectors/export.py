"""CSV exports of conversations and of messages, with the dashboard's filters, in constant memory.

Rows come from the database in chunks (`iterator(chunk_size=...)`: a server-side cursor on
PostgreSQL) and leave as CSV text in batches, so a million messages never sit in memory at once.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime, time, timedelta

from django.utils import timezone

from analytics.models import ConversationFact
from analytics.selectors.dashboard import Filters, dimensions_q
from chat.models import ChatMessage

CHUNK_SIZE = 5000
BATCH_ROWS = 1000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

CONVERSATION_COLUMNS = (
    "session_id", "started_at", "last_at", "user_id", "visitor_key", "user_type", "universe",
    "provider", "model", "first_page", "messages", "replies", "replies_complete",
    "replies_stopped", "replies_failed", "replies_interrupted", "first_ttft_ms", "ttft_sum_ms",
    "ttft_count", "total_ms", "input_tokens", "output_tokens", "cost", "cache_hits", "fallbacks",
    "gaps", "escalated", "escalation_reason", "rating", "rating_comment", "resolved", "synthetic",
)  # fmt: skip
MESSAGE_COLUMNS = (
    "id", "session_id", "created_at", "role", "status", "provider", "model", "input_tokens",
    "output_tokens", "ttft_ms", "total_ms", "cached", "error_code", "text",
)  # fmt: skip
KINDS = ("conversations", "messages")


def _day_bounds(filters: Filters) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(filters.start, time.min))
    end = timezone.make_aware(datetime.combine(filters.end + timedelta(days=1), time.min))
    return start, end


def conversation_rows(filters: Filters) -> Iterator[tuple]:
    return (
        ConversationFact.objects.filter(
            dimensions_q(filters), day__range=(filters.start, filters.end)
        )
        .order_by("day", "id")
        .values_list(*CONVERSATION_COLUMNS)
        .iterator(chunk_size=CHUNK_SIZE)
    )


def message_rows(filters: Filters) -> Iterator[tuple]:
    start, end = _day_bounds(filters)
    messages = ChatMessage.objects.filter(created_at__gte=start, created_at__lt=end)
    dimensions = dimensions_q(filters)
    if dimensions:
        sessions = ConversationFact.objects.filter(dimensions).values("session_id")
        messages = messages.filter(session_id__in=sessions)
    return messages.order_by("created_at", "id").values_list(*MESSAGE_COLUMNS).iterator(
        chunk_size=CHUNK_SIZE
    )


def export_rows(kind: str, filters: Filters) -> tuple[tuple[str, ...], Iterator[tuple]]:
    if kind == "conversations":
        return CONVERSATION_COLUMNS, conversation_rows(filters)
    if kind == "messages":
        return MESSAGE_COLUMNS, message_rows(filters)
    raise ValueError(f"unknown export {kind!r}: choose conversations or messages")


class _Line:
    """A file-like object that hands back what csv.writer writes."""

    def write(self, value: str) -> str:
        return value


def _safe(value):
    """Keep a spreadsheet from running a cell as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_chunks(header: Iterable[str], rows: Iterable[tuple]) -> Iterator[str]:
    """CSV text in batches of BATCH_ROWS rows (the header first)."""
    writer = csv.writer(_Line())
    yield writer.writerow(header)
    batch: list[str] = []
    for row in rows:
        batch.append(writer.writerow([_safe(value) for value in row]))
        if len(batch) >= BATCH_ROWS:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)
