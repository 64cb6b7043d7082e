"""Retention and the record: close idle conversations, delete old anonymous ones, and delete
conversations (with their messages and uploaded images) in one logged place.

Idempotent: running `cleanup_chats` twice in a row changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from chat.models import ChatMessage, ChatSession

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CleanupReport:
    closed: int
    deleted: int
    deleted_messages: int
    dry_run: bool


def conversations_idle(*, now: datetime, idle_hours: float) -> QuerySet[ChatSession]:
    """Active conversations with no activity for `idle_hours`."""
    return ChatSession.objects.filter(
        status=ChatSession.Status.ACTIVE, last_activity_at__lt=now - timedelta(hours=idle_hours)
    )


def conversations_expired(*, now: datetime, retention_days: int) -> QuerySet[ChatSession]:
    """Anonymous visitors' conversations idle for longer than `retention_days` (0: none)."""
    if retention_days <= 0:
        return ChatSession.objects.none()
    return ChatSession.objects.filter(
        user__isnull=True, last_activity_at__lt=now - timedelta(days=retention_days)
    )


def chats_cleanup(
    *, now: datetime | None = None, idle_hours: float, retention_days: int, dry_run: bool = False
) -> CleanupReport:
    """Close idle conversations and delete expired anonymous ones; report the counts."""
    now = now or timezone.now()
    expired = conversations_expired(now=now, retention_days=retention_days)
    idle = conversations_idle(now=now, idle_hours=idle_hours).exclude(pk__in=expired.values("pk"))
    if dry_run:
        messages = ChatMessage.objects.filter(session__in=expired).count()
        return CleanupReport(idle.count(), expired.count(), messages, dry_run=True)
    with transaction.atomic():
        # update() leaves last_activity_at alone: closing is not activity.
        closed = idle.update(status=ChatSession.Status.CLOSED)
        deleted, messages = conversations_delete(queryset=expired, reason="retention")
    log.info(
        "chats_cleaned_up",
        closed=closed,
        deleted=deleted,
        deleted_messages=messages,
        idle_hours=idle_hours,
        retention_days=retention_days,
    )
    return CleanupReport(closed, deleted, messages, dry_run=False)


def conversations_delete(
    *, queryset: QuerySet[ChatSession], reason: str, user_id: int | None = None
) -> tuple[int, int]:
    """Delete conversations, their messages and their images; log it once. Return
    (conversations, messages) deleted. Image files go after commit (a rollback keeps them)."""
    with transaction.atomic():
        sessions = list(queryset.values_list("pk", flat=True))
        if not sessions:
            return 0, 0
        messages = ChatMessage.objects.filter(session__in=sessions)
        images = [
            name for name in messages.exclude(image="").values_list("image", flat=True) if name
        ]
        message_count = messages.count()
        ChatSession.objects.filter(pk__in=sessions).delete()
        transaction.on_commit(lambda: _files_delete(images))
    log.info(
        "conversations_deleted",
        reason=reason,
        user_id=user_id,
        conversations=len(sessions),
        messages=message_count,
        images=len(images),
        ids=[str(pk) for pk in sessions[:20]],
    )
    return len(sessions), message_count


def _files_delete(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError as exc:
            log.warning("conversation_image_not_deleted", error=type(exc).__name__)
