"""Reads. Every query that returns sessions or messages is filtered by their owner."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.urls import reverse

from chat.exceptions import NotFound
from chat.identity import Owner
from chat.models import ChatMessage, ChatSession


def _owned_by(owner: Owner) -> Q:
    if owner.user_id is not None:
        return Q(user_id=owner.user_id)
    return Q(user__isnull=True, visitor_key=owner.visitor_key)


def session_list(*, owner: Owner) -> QuerySet[ChatSession]:
    """The owner's conversations, newest activity first, with their message counts."""
    return (
        ChatSession.objects.filter(_owned_by(owner))
        .annotate(message_count=Count("messages"))
        .order_by("-pinned", "-last_activity_at")
    )


def session_get(*, owner: Owner, session_id) -> ChatSession:
    """Return the owner's session, or raise NotFound (also for someone else's session)."""
    try:
        return ChatSession.objects.get(_owned_by(owner), id=session_id)
    except (ChatSession.DoesNotExist, ValueError, TypeError, ValidationError):
        raise NotFound("That conversation does not exist or is not yours.") from None


def session_exists(*, session_id) -> bool:
    try:
        return ChatSession.objects.filter(id=session_id).exists()
    except (ValueError, TypeError, ValidationError):
        return False


def message_get(*, owner: Owner, message_id) -> ChatMessage:
    try:
        return ChatMessage.objects.select_related("session").get(
            id=message_id, session__in=ChatSession.objects.filter(_owned_by(owner))
        )
    except (ChatMessage.DoesNotExist, ValueError, TypeError, ValidationError):
        raise NotFound("That message does not exist or is not yours.") from None


def message_history(
    *, session: ChatSession, limit: int = 50, before: ChatMessage | None = None
) -> list[ChatMessage]:
    """The last `limit` messages of a session (before `before`, if given), oldest first."""
    qs = session.messages.all()
    if before is not None:
        qs = qs.filter(
            Q(created_at__lt=before.created_at) | Q(created_at=before.created_at, id__lt=before.id)
        )
    newest_first = list(qs.order_by("-created_at", "-id")[:limit])
    return newest_first[::-1]


def message_by_client_id(*, session: ChatSession, client_id: str) -> ChatMessage | None:
    return session.messages.filter(client_id=client_id).first()


def message_reply(*, user_message: ChatMessage) -> ChatMessage | None:
    """The latest assistant reply to a user message."""
    return user_message.replies.order_by("-created_at").first()


def message_last_user(*, session: ChatSession) -> ChatMessage | None:
    return session.messages.filter(role=ChatMessage.Role.USER).order_by("-created_at").first()


def message_streaming(*, session: ChatSession) -> ChatMessage | None:
    """The reply being generated in a session, if any."""
    return session.messages.filter(status=ChatMessage.Status.STREAMING).last()


def message_in_session(*, session: ChatSession, message_id) -> ChatMessage | None:
    try:
        return session.messages.filter(id=message_id).first()
    except (ValueError, TypeError, ValidationError):
        return None


def session_has_streaming(*, session: ChatSession) -> bool:
    return session.messages.filter(status=ChatMessage.Status.STREAMING).exists()


def message_serialize(message: ChatMessage) -> dict:
    """A message object as PROTOCOL.md describes it."""
    return {
        "id": str(message.id),
        "role": message.role,
        "text": message.text,
        "image_url": reverse("chat-message-image", args=[message.id]) if message.image else None,
        "status": message.status,
        "created_at": message.created_at.isoformat().replace("+00:00", "Z"),
        "sources": message.sources,
        "pinned": message.pinned,
    }


def session_markdown(*, session: ChatSession) -> str:
    """The conversation as a Markdown document (for export)."""
    lines = [f"# {session}", "", f"_{session.created_at:%Y-%m-%d %H:%M} UTC_", ""]
    for message in session.messages.all():
        who = "You" if message.role == ChatMessage.Role.USER else "Assistant"
        lines += [f"**{who}** ({message.created_at:%H:%M}):", "", message.text or "_(empty)_"]
        for source in message.sources:
            lines.append(f"- Source: [{source.get('title', '')}]({source.get('url', '')})")
        lines.append("")
    return "\n".join(lines)
