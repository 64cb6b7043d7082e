"""Reads. Every query that returns sessions or messages is filtered by their owner."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils.module_loading import import_string

from chat.config import assistant_config
from chat.db import db_async
from chat.exceptions import NotFound
from chat.identity import Owner, asker_for
from chat.models import ChatMessage, ChatSession
from chat.signals import Asker

log = structlog.get_logger(__name__)

HISTORY_MESSAGES = 20  # earlier turns a reply's prompt may draw on (the builder trims by tokens)


def _owned_by(owner: Owner) -> Q:
    if owner.user_id is not None:
        return Q(user_id=owner.user_id)
    return Q(user__isnull=True, visitor_key=owner.visitor_key)


def session_list(*, owner: Owner, query: str = "") -> QuerySet[ChatSession]:
    """The owner's conversations, pinned first, then newest activity first, with their message
    counts. `query` keeps those whose title or any message contains it (case-insensitive)."""
    sessions = ChatSession.objects.filter(_owned_by(owner))
    if query.strip():
        mine = ChatMessage.objects.filter(session__in=ChatSession.objects.filter(_owned_by(owner)))
        for word in query.split()[:8]:
            matching = mine.filter(text__icontains=word).values("session_id")
            sessions = sessions.filter(Q(title__icontains=word) | Q(id__in=matching))
    return sessions.annotate(message_count=Count("messages")).order_by(
        "-pinned", "-last_activity_at"
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


def message_streaming(*, session: ChatSession) -> ChatMessage | None:
    """The reply being generated in a session, if any."""
    return session.messages.filter(status=ChatMessage.Status.STREAMING).last()


def message_in_session(*, session: ChatSession, message_id) -> ChatMessage | None:
    try:
        return session.messages.filter(id=message_id).first()
    except (ValueError, TypeError, ValidationError):
        return None


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
        # Per reply figures for the widget's details (issue 14), additive to PROTOCOL's object.
        "model": message.model,
        "ttft_ms": message.ttft_ms,
        "total_ms": message.total_ms,
        "output_tokens": message.output_tokens,
        # The groundedness check (PROTOCOL's `verdict` fields), when the reply was checked.
        "verdict": (message.metadata or {}).get("verdict"),
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


@dataclass(frozen=True)
class ReplyMaterial:
    """What a reply is built from, read in one trip: the question's row is the source of truth
    (universe, "Ask AI about this" context, image), so a regenerated reply is built exactly like
    the first one."""

    question: ChatMessage
    history: list[tuple[str, str]]  # earlier turns with text, oldest first
    universe: str  # chosen for this question or for the conversation; "" when not chosen
    session_model: str
    session_options: dict
    escalated: bool
    asker: Asker


def reply_material(*, question_id, owner: Owner) -> ReplyMaterial:
    question = ChatMessage.objects.select_related("session").get(id=question_id)
    return reply_material_of(
        question=question,
        session=question.session,
        history=message_history_before(question=question),
        asker=asker_for(owner),
    )


def reply_material_of(
    *, question: ChatMessage, session: ChatSession, history: list[tuple[str, str]], asker: Asker
) -> ReplyMaterial:
    """The material of a question whose rows the caller holds (just stored, or just read)."""
    return ReplyMaterial(
        question=question,
        history=[(role, text) for role, text in history],
        universe=question.metadata.get("universe") or session.universe,
        session_model=session.model,
        session_options=session.generation_options,
        escalated=session.escalated,
        asker=asker,
    )


@dataclass(frozen=True)
class Seen:
    """What a new question must know of its conversation, read in one trip (services'
    `exchange_begin`, while it holds the conversation's row lock)."""

    client_id_seen: bool  # a question with this client id is stored
    streaming: bool  # a reply is being written
    history: list[tuple[str, str]]  # as ReplyMaterial's, before the new question
    stored: dict  # the conversation's values a reply reads (empty when it has no message)


SEEN_MESSAGE_FIELDS = ("role", "text", "client_id", "status", "created_at")
SEEN_SESSION_FIELDS = ("title", "universe", "model", "generation_options", "escalated")


def exchange_seen(*, session: ChatSession, client_id: str, before) -> Seen:
    """The messages that matter to a new question at `before`: its client id's, a reply being
    written, and the last HISTORY_MESSAGES with text (with the conversation's values)."""
    latest = (
        session.messages.filter(created_at__lt=before)
        .exclude(text="")
        .order_by("-created_at")[:HISTORY_MESSAGES]
        .values("id")
    )
    rows = list(
        session.messages.filter(
            Q(client_id=client_id) | Q(status=ChatMessage.Status.STREAMING) | Q(id__in=latest)
        )
        .order_by("created_at", "id")
        .values_list(*SEEN_MESSAGE_FIELDS, *(f"session__{f}" for f in SEEN_SESSION_FIELDS))
    )
    if rows:
        stored = dict(zip(SEEN_SESSION_FIELDS, rows[0][len(SEEN_MESSAGE_FIELDS) :], strict=True))
    else:
        stored = ChatSession.objects.filter(pk=session.pk).values(*SEEN_SESSION_FIELDS).first()
    return Seen(
        client_id_seen=any(row[2] == client_id for row in rows),
        streaming=any(row[3] == ChatMessage.Status.STREAMING for row in rows),
        history=[(r[0], r[1]) for r in rows if r[1] and r[4] < before][-HISTORY_MESSAGES:],
        stored=stored or {},
    )


def exchange_previous(
    *, session: ChatSession, client_id: str
) -> tuple[ChatMessage | None, ChatMessage | None, ChatMessage | None]:
    """In one read: the question stored with `client_id` and its latest reply, else the reply
    being written in the conversation (as `message_streaming` would say)."""
    rows = list(
        session.messages.filter(
            Q(client_id=client_id)
            | Q(reply_to__client_id=client_id)
            | Q(status=ChatMessage.Status.STREAMING)
        ).order_by("created_at", "id")
    )
    question = next((m for m in rows if m.client_id == client_id), None)
    if question is None:
        streaming = [m for m in rows if m.status == ChatMessage.Status.STREAMING]
        return None, None, streaming[-1] if streaming else None
    replies = [m for m in rows if m.reply_to_id == question.id]
    reply = max(replies, key=lambda m: m.created_at) if replies else None
    return question, reply, None


def regenerate_seen(*, session: ChatSession) -> tuple[ChatMessage | None, ChatMessage | None]:
    """In one read: the conversation's last question, with its conversation's row, and the
    reply being written (as `message_streaming` would say)."""
    last_question = (
        session.messages.filter(role=ChatMessage.Role.USER).order_by("-created_at").values("id")
    )[:1]
    rows = list(
        session.messages.filter(Q(status=ChatMessage.Status.STREAMING) | Q(id__in=last_question))
        .select_related("session")
        .order_by("created_at", "id")
    )
    question = next((m for m in rows if m.role == ChatMessage.Role.USER), None)
    streaming = [m for m in rows if m.status == ChatMessage.Status.STREAMING]
    return question, streaming[-1] if streaming else None


def message_history_before(*, question: ChatMessage) -> list[tuple[str, str]]:
    """The turns with text before `question`, oldest first: what its reply's prompt reads."""
    earlier = (
        ChatMessage.objects.filter(session_id=question.session_id)
        .filter(created_at__lt=question.created_at)
        .exclude(text="")
        .order_by("-created_at")[:HISTORY_MESSAGES]
        .values_list("role", "text")
    )
    return list(reversed(earlier))


def message_history_serialized(*, session: ChatSession, limit: int = 50) -> list[dict]:
    return [message_serialize(m) for m in message_history(session=session, limit=limit)]


def message_for_replay(*, message_id) -> ChatMessage:
    """A reply with what its replay reads (the question's client id)."""
    return ChatMessage.objects.select_related("reply_to").get(id=message_id)


areply_material = db_async(reply_material)
asession_get = db_async(session_get)
amessage_for_replay = db_async(message_for_replay)
amessage_history_serialized = db_async(message_history_serialized)
amessage_streaming = db_async(message_streaming)
amessage_in_session = db_async(message_in_session)
aregenerate_seen = db_async(regenerate_seen)


SUGGESTIONS_CACHE_KEY = "chat:suggestions"


def questions_suggested(*, count: int = 3) -> list[str]:
    """Questions to offer a new visitor: CHAT_SUGGESTED_QUESTIONS when the operator set them,
    else help-center titles that are questions, from different categories, through the
    CHAT_SUGGESTIONS_SOURCE port (chat does not import knowledge). Cached for five minutes."""
    if settings.CHAT_SUGGESTED_QUESTIONS:
        return list(settings.CHAT_SUGGESTED_QUESTIONS)[:count]
    found = cache.get(SUGGESTIONS_CACHE_KEY)
    if found is None:
        found = _questions_from_source(count)
        cache.set(SUGGESTIONS_CACHE_KEY, found, 300)
    return found


def _questions_from_source(count: int) -> list[str]:
    if not settings.CHAT_SUGGESTIONS_SOURCE:
        return []
    try:
        entries = import_string(settings.CHAT_SUGGESTIONS_SOURCE)(limit=200)
    except Exception as exc:  # noqa: BLE001 - a failing port must not break the empty state
        log.warning("suggestions_source_failed", error=repr(exc))
        return []
    picked, categories = [], set()
    for entry in entries:
        title, category = getattr(entry, "title", ""), getattr(entry, "category", "")
        if title.endswith("?") and len(title) <= 70 and category not in categories:
            picked.append(title)
            categories.add(category)
    return picked[:count]


def widget_options(request) -> dict:
    """What the widget's template needs to know about this visitor and the assistant: whether
    the model reads images, what a signed-in visitor may choose, the limits and links."""
    config = assistant_config()
    user = getattr(request, "user", None)
    signed_in = bool(user is not None and user.is_authenticated)
    return {
        "sees_images": config.sees_images(),
        "signed_in": signed_in,
        "visitor_models": ",".join(config.visitor_models) if signed_in else "",
        "visitor_options": ",".join(config.visitor_options) if signed_in else "",
        "max_frame_bytes": settings.CHAT_MAX_FRAME_BYTES,
        "help_url": settings.CONCIERGE_HELP_URL,
    }
