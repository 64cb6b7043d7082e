"""CSV exports of conversations and of messages, with the dashboard's filters, in constant memory.

On PostgreSQL the database writes the CSV itself (`COPY (SELECT ...) TO STDOUT`), streamed in
blocks of about 64 KB. Elsewhere rows come in chunks (`iterator(chunk_size=...)`) and are
written by Python's csv module in batches. Both paths give the same text: timestamps as
PostgreSQL writes them in UTC (`2026-11-24 10:00:00.5+00`: formatting them costs the database
more than the rest of the row), booleans `true`/`false`, and in the columns that carry visitors'
or the model's words a cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`...)
starts with a quote.
Under ASGI the view hands Django an async iterator (`achunks`): given a sync iterator, Django
would first read it whole into memory.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime, time, timedelta

from asgiref.sync import sync_to_async
from django.db import connection
from django.utils import timezone

from analytics.models import ConversationFact
from analytics.selectors.dashboard import Filters, dimensions_q
from chat.models import ChatMessage

CHUNK_SIZE = 5000
BATCH_ROWS = 1000
COPY_BLOCK = 64 * 1024
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PG_FORMULA_STARTS = "'=', '+', '-', '@', E'\\t', E'\\r'"
# Columns whose text comes from visitors or the model (a formula could hide there).
FREE_TEXT = frozenset({"first_page", "rating_comment", "text", "visitor_key"})

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


def conversations_query(filters: Filters):
    return (
        ConversationFact.objects.filter(
            dimensions_q(filters), day__range=(filters.start, filters.end)
        )
        .order_by("day", "id")
        .values_list(*CONVERSATION_COLUMNS)
    )


def messages_query(filters: Filters):
    start, end = _day_bounds(filters)
    messages = ChatMessage.objects.filter(created_at__gte=start, created_at__lt=end)
    dimensions = dimensions_q(filters)
    if dimensions:
        sessions = ConversationFact.objects.filter(dimensions).values("session_id")
        messages = messages.filter(session_id__in=sessions)
    return messages.order_by("created_at", "id").values_list(*MESSAGE_COLUMNS)


def export_query(kind: str, filters: Filters):
    if kind == "conversations":
        return CONVERSATION_COLUMNS, conversations_query(filters)
    if kind == "messages":
        return MESSAGE_COLUMNS, messages_query(filters)
    raise ValueError(f"unknown export {kind!r}: choose conversations or messages")


def export_rows(kind: str, filters: Filters) -> tuple[tuple[str, ...], Iterator[tuple]]:
    """The header and the rows of an export, read in chunks (the portable path)."""
    header, query = export_query(kind, filters)
    return header, query.iterator(chunk_size=CHUNK_SIZE)


def export_chunks(kind: str, filters: Filters) -> Iterator[str]:
    """The export as CSV text in blocks: by COPY on PostgreSQL, else by Python's csv."""
    header, query = export_query(kind, filters)
    if connection.vendor == "postgresql":
        return _copy_chunks(header, query)
    return csv_chunks(header, query.iterator(chunk_size=CHUNK_SIZE))


async def achunks(chunks: Iterator[str]) -> AsyncIterator[str]:
    """The same blocks for an ASGI response, each read on the request's sync thread."""
    done = object()
    read = sync_to_async(lambda: next(chunks, done), thread_sensitive=True)
    while (chunk := await read()) is not done:
        yield chunk


def _pg_cell(column: str, field) -> str:
    name = f'q."{column}"'
    kind = field.get_internal_type()
    if kind == "BooleanField":
        return f"CASE WHEN {name} THEN 'true' ELSE 'false' END"
    if column in FREE_TEXT:
        quoted = "''''"  # one quote, as an SQL literal
        return (f"CASE WHEN left({name}, 1) IN ({PG_FORMULA_STARTS}) "
                f"THEN {quoted} || {name} ELSE {name} END")  # fmt: skip
    return name


def _copy_chunks(header: tuple[str, ...], query) -> Iterator[str]:
    from psycopg import ClientCursor

    fields = {f.attname: f for f in query.model._meta.concrete_fields}
    inner_sql, params = query.query.sql_with_params()
    connection.ensure_connection()
    raw = connection.connection  # Django sets its time zone to UTC (USE_TZ)
    inner = ClientCursor(raw).mogrify(inner_sql, params)
    aliases = ", ".join(f'"{c}"' for c in header)
    cells = ", ".join(f'{_pg_cell(c, fields[c])} AS "{c}"' for c in header)
    statement = (f"COPY (SELECT {cells} FROM ({inner}) AS q({aliases})) "  # noqa: S608
                 f"TO STDOUT WITH (FORMAT csv, HEADER)")  # fmt: skip
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        block, size = [], 0
        for data in copy:
            block.append(bytes(data))
            size += len(data)
            if size >= COPY_BLOCK:
                yield b"".join(block).decode()
                block, size = [], 0
        if block:
            yield b"".join(block).decode()


class _Line:
    """A file-like object that hands back what csv.writer writes."""

    def write(self, value: str) -> str:
        return value


def _timestamp(value: datetime) -> str:
    """A timestamp as PostgreSQL writes a timestamptz in UTC."""
    value = value.astimezone(UTC)
    fraction = f".{value.microsecond:06d}".rstrip("0") if value.microsecond else ""
    return f"{value:%Y-%m-%d %H:%M:%S}{fraction}+00"


def _cell(value, free_text: bool):
    """One value as the PostgreSQL path writes it; never a formula for a spreadsheet."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _timestamp(value)
    if free_text and isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_chunks(header: Iterable[str], rows: Iterable[tuple]) -> Iterator[str]:
    """CSV text in batches of BATCH_ROWS rows (the header first)."""
    writer = csv.writer(_Line())
    header = list(header)
    free = [name in FREE_TEXT for name in header]
    yield writer.writerow(header)
    batch: list[str] = []
    for row in rows:
        batch.append(writer.writerow([_cell(v, f) for v, f in zip(row, free, strict=True)]))
        if len(batch) >= BATCH_ROWS:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)
