"""Writes. Each function changes rows for one purpose, atomically where several change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from django.db import IntegrityError, transaction
from django.utils import timezone

from chat import selectors
from chat.db import db_async
from chat.exceptions import Busy, Forbidden, InvalidInput, InvalidTransition, NotFound
from chat.identity import Owner
from chat.models import ChatMessage, ChatSession
from chat.reply.choice import options_validate

log = structlog.get_logger(__name__)

TITLE_LENGTH = 60


@dataclass(frozen=True)
class Exchange:
    """A stored question and the reply being generated for it."""

    question: ChatMessage
    reply: ChatMessage
    created: bool  # False when the client id was seen before (nothing new was stored)


def session_create(
    *,
    owner: Owner,
    title: str = "",
    universe: str = "",
    context: dict[str, Any] | None = None,
    provider: str = "",
    model: str = "",
    generation_options: dict[str, Any] | None = None,
) -> ChatSession:
    return ChatSession.objects.create(
        user_id=owner.user_id,
        visitor_key="" if owner.user_id is not None else owner.visitor_key,
        title=title[:200],
        universe=universe,
        context=context or {},
        provider=provider,
        model=model,
        generation_options=generation_options or {},
    )


def session_open(*, owner: Owner, session_id=None, **create_kwargs: Any) -> ChatSession:
    """Return the owner's session `session_id`, or a new one when `session_id` is None.

    Raises NotFound when there is no such session and Forbidden when it is someone else's (ids
    are random UUIDs, so saying so reveals nothing guessable).
    """
    if session_id is None:
        return session_create(owner=owner, **create_kwargs)
    try:
        return selectors.session_get(owner=owner, session_id=session_id)
    except NotFound:
        if selectors.session_exists(session_id=session_id):
            raise Forbidden("That conversation belongs to someone else.") from None
        raise


def session_update(
    *, session: ChatSession, title: str | None = None, pinned: bool | None = None
) -> ChatSession:
    fields = ["updated_at"]
    if title is not None:
        session.title = title.strip()[:200]
        fields.append("title")
    if pinned is not None:
        session.pinned = pinned
        fields.append("pinned")
    session.save(update_fields=fields)
    return session


def session_choose_model(
    *,
    session: ChatSession,
    owner: Owner,
    allowed_models: tuple[str, ...],
    allowed_options: tuple[str, ...],
    model: str | None = None,
    options: dict[str, Any] | None = None,
) -> ChatSession:
    """Store a signed-in visitor's model and options on their conversation, within what the
    operator allows (AssistantConfig.visitor_models / visitor_options). Raise Forbidden for an
    anonymous visitor and InvalidInput, saying what is allowed, for anything else."""
    if not owner.is_authenticated:
        raise Forbidden("Sign in to choose the model or its options.")
    fields = ["updated_at"]
    if model is not None:
        if model not in allowed_models:
            choices = ", ".join(allowed_models) or "none"
            raise InvalidInput(f"The model {model!r} is not offered here. Choose: {choices}.")
        session.model = model
        fields.append("model")
    if options is not None:
        session.generation_options = {
            **session.generation_options,
            **options_validate(options, allowed=allowed_options),
        }
        fields.append("generation_options")
    session.save(update_fields=fields)
    return session


def sessions_adopt(*, visitor_key: str, user_id: int) -> int:
    """Give a visitor's anonymous conversations to the user who just signed in (once: they no
    longer belong to the visitor key afterwards). Return how many moved."""
    if not visitor_key:
        return 0
    return ChatSession.objects.filter(user__isnull=True, visitor_key=visitor_key).update(
        user_id=user_id, visitor_key=""
    )


def session_title_set(*, session_id, title: str, only_if: str) -> bool:
    """Set a generated title, unless the title changed meanwhile (a rename wins). Return
    whether it was set."""
    title = " ".join(title.split())[:TITLE_LENGTH]
    if not title:
        return False
    return bool(ChatSession.objects.filter(pk=session_id, title=only_if).update(title=title))


def session_rate(*, session: ChatSession, score: int, comment: str = "") -> ChatSession:
    session.rating = score
    session.rating_comment = comment[:2000]
    session.save(update_fields=["rating", "rating_comment", "updated_at"])
    return session


def session_escalate(*, session_id) -> bool:
    """Mark a conversation as handed to a person. Return False if it already was."""
    return bool(ChatSession.objects.filter(id=session_id, escalated=False).update(escalated=True))


def session_delete(*, session: ChatSession) -> None:
    session.delete()


@transaction.atomic
def exchange_begin(
    *,
    session: ChatSession,
    client_id: str,
    text: str,
    image=None,
    provider: str = "",
    model: str = "",
    metadata: dict[str, Any] | None = None,
) -> Exchange:
    """Store a question and an empty `streaming` reply to it, once per client id.

    The same client id again returns the stored pair with `created=False`. A new question while
    another reply in the session is still streaming raises Busy (nothing is stored).
    """
    ChatSession.objects.select_for_update().filter(pk=session.pk).first()
    previous = selectors.message_by_client_id(session=session, client_id=client_id)
    if previous is not None:
        return Exchange(previous, _reply_or_fail(previous), created=False)
    if selectors.session_has_streaming(session=session):
        raise Busy("A reply is still being written in this conversation. Wait or press stop.")
    try:
        with transaction.atomic():
            question = ChatMessage.objects.create(
                session=session,
                role=ChatMessage.Role.USER,
                text=text,
                image=image,
                client_id=client_id,
                metadata=metadata or {},
            )
    except IntegrityError:
        # Another process stored the same client id between our check and insert.
        previous = selectors.message_by_client_id(session=session, client_id=client_id)
        return Exchange(previous, _reply_or_fail(previous), created=False)
    reply = _reply_create(session=session, question=question, provider=provider, model=model)
    _session_touch(session=session, first_text=text)
    return Exchange(question, reply, created=True)


@transaction.atomic
def reply_regenerate(*, session: ChatSession, provider: str = "", model: str = "") -> Exchange:
    """Start a new `streaming` reply to the last question, to replace the current one."""
    ChatSession.objects.select_for_update().filter(pk=session.pk).first()
    if selectors.session_has_streaming(session=session):
        raise Busy("A reply is still being written in this conversation. Wait or press stop.")
    question = selectors.message_last_user(session=session)
    if question is None:
        raise NotFound("There is no question to answer again in this conversation.")
    # An earlier answer with text stays until the new one has text (replies_supersede): a
    # regeneration that fails must not lose it. Empty ones (failed) have nothing to keep.
    question.replies.filter(text="").delete()
    reply = _reply_create(session=session, question=question, provider=provider, model=model)
    _session_touch(session=session)
    return Exchange(question, reply, created=True)


def message_finish(
    *,
    message_id,
    status: str,
    text: str,
    input_tokens: int = 0,
    output_tokens: int = 0,
    ttft_ms: int | None = None,
    total_ms: int | None = None,
    sources: list[dict] | None = None,
    error_code: str = "",
    error: str = "",
    cached: bool = False,
    provider: str | None = None,
    model: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> ChatMessage:
    """Finish a `streaming` reply, exactly once. A second call raises InvalidTransition."""
    if status not in ChatMessage.FINAL_STATUSES:
        raise InvalidTransition(f"{status!r} is not a final status.")
    changes: dict[str, Any] = {
        "status": status,
        "text": text,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "ttft_ms": ttft_ms,
        "total_ms": total_ms,
        "sources": sources or [],
        "error_code": error_code,
        "error": error,
        "cached": cached,
        "finished_at": timezone.now(),
    }
    if provider is not None:
        changes["provider"] = provider
    if model is not None:
        changes["model"] = model
    if metadata is not None:
        changes["metadata"] = metadata
    updated = ChatMessage.objects.filter(id=message_id, status=ChatMessage.Status.STREAMING).update(
        **changes
    )
    if not updated:
        raise InvalidTransition(f"Message {message_id} is not streaming; it was finished before.")
    return ChatMessage.objects.get(id=message_id)


@transaction.atomic
def reply_store(
    *, message_id, session_id, escalate: bool = False, supersede: bool = False, **finish: Any
) -> ChatMessage:
    """Store a finished reply once (see `message_finish`), with what it changes in its
    conversation: escalated (`escalate`), earlier answers to its question replaced (`supersede`,
    a regenerated reply with text)."""
    reply = message_finish(message_id=message_id, **finish)
    if escalate:
        session_escalate(session_id=session_id)
    if supersede:
        replies_supersede(reply_id=message_id)
    return reply


def message_update(*, message: ChatMessage, pinned: bool) -> ChatMessage:
    message.pinned = pinned
    message.save(update_fields=["pinned"])
    return message


def message_delete(*, message: ChatMessage) -> None:
    message.delete()


def replies_supersede(*, reply_id) -> int:
    """Delete the earlier replies to the same question once a regenerated one is stored."""
    reply = ChatMessage.objects.get(id=reply_id)
    return (
        ChatMessage.objects.filter(reply_to_id=reply.reply_to_id).exclude(id=reply.id).delete()[0]
    )


def message_interrupt_orphan(*, message_id, text: str = "") -> ChatMessage:
    """Mark a reply that a dead process left `streaming` as `interrupted`, keeping the `text`
    its clients were shown (once; a reply that finished meanwhile is returned as it is)."""
    try:
        return _interrupt(message_id, text=text)
    except InvalidTransition:
        return ChatMessage.objects.get(id=message_id)


def messages_reap_stale(*, older_than: timedelta) -> int:
    """Settle every reply left `streaming` for longer than `older_than` (`manage.py
    reap_replies`): a conversation nobody reopens is otherwise settled only when asked for."""
    cutoff = timezone.now() - older_than
    stale = ChatMessage.objects.filter(status=ChatMessage.Status.STREAMING, created_at__lt=cutoff)
    count = 0
    for message_id in stale.values_list("id", flat=True):
        try:
            _interrupt(message_id)
            count += 1
        except InvalidTransition:
            pass  # it finished while we looked
    if count:
        log.warning("stale_replies_interrupted", count=count)
    return count


def _interrupt(message_id, *, text: str = "") -> ChatMessage:
    return message_finish(
        message_id=message_id,
        status=ChatMessage.Status.INTERRUPTED,
        text=text,
        error_code="internal",
        error="The server restarted while this reply was being written. Press retry.",
    )


def _reply_create(
    *, session: ChatSession, question: ChatMessage, provider: str, model: str
) -> ChatMessage:
    return ChatMessage.objects.create(
        session=session,
        role=ChatMessage.Role.ASSISTANT,
        reply_to=question,
        status=ChatMessage.Status.STREAMING,
        provider=provider,
        model=model,
    )


def _reply_or_fail(question: ChatMessage) -> ChatMessage:
    reply = selectors.message_reply(user_message=question)
    if reply is None:  # a question whose reply was deleted by its owner
        raise NotFound("That message was already answered and its reply deleted.")
    return reply


def _session_touch(*, session: ChatSession, first_text: str = "") -> None:
    now = timezone.now()
    activity = {"last_activity_at": now, "updated_at": now}
    session.last_activity_at = session.updated_at = now
    rows = ChatSession.objects.filter(pk=session.pk)
    if first_text:
        # Only an untitled conversation takes its first question as title; a rename made
        # elsewhere in the meantime (REST) wins over this possibly stale `session` object.
        # One statement when untitled (the usual case), a second when it was renamed.
        title = _title_from(first_text)
        if rows.filter(title="").update(title=title, **activity):
            session.title = title
            return
    rows.update(**activity)


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


asession_open = db_async(session_open)
asession_rate = db_async(session_rate)
aexchange_begin = db_async(exchange_begin)
areply_regenerate = db_async(reply_regenerate)
areply_store = db_async(reply_store)
amessage_interrupt_orphan = db_async(message_interrupt_orphan)
