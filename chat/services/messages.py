"""Writes to messages: a question and its reply stored as one exchange, replies finished,
superseded, interrupted or reaped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from django.db import IntegrityError, transaction
from django.utils import timezone

from chat import selectors
from chat.db import db_async
from chat.exceptions import Busy, InvalidTransition, NotFound
from chat.models import ChatMessage, ChatSession
from chat.services.sessions import _session_touch, session_escalate, title_from_words

log = structlog.get_logger(__name__)

NO_QUESTION = "There is no question to answer again in this conversation."


@dataclass(frozen=True)
class Exchange:
    """A stored question and the reply being generated for it."""

    question: ChatMessage
    reply: ChatMessage
    created: bool  # False when the client id was seen before (nothing new was stored)
    # The earlier turns with text, oldest first, when read with the question (a new question):
    # the reply's prompt needs them, so that it need not read them again.
    history: list[tuple[str, str]] | None = None


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
    another reply in the session is still streaming raises Busy (nothing is stored). A `session`
    not stored yet (`ChatSession(...)`, a new conversation) is stored with its first question.
    On return, `session` holds its stored row's values and `history` the earlier turns with
    text (what the reply's prompt reads, selectors.reply_material's `history`).
    """
    new = session._state.adding
    try:
        return _exchange_store(
            session=session,
            client_id=client_id,
            text=text,
            image=image,
            provider=provider,
            model=model,
            metadata=metadata,
        )
    except (_SeenBefore, IntegrityError):
        # Stored before, or by another process between our check and insert (the unique
        # constraint): nothing of ours was kept.
        if new:
            session._state.adding = True  # rolled back with the rest
            raise
        previous, _ = exchange_previous(session=session, client_id=client_id)
        if previous is None:  # deleted since it was seen
            raise NotFound("That message was deleted meanwhile. Send it again.") from None
        return previous


def exchange_previous(
    *, session: ChatSession, client_id: str
) -> tuple[Exchange | None, ChatMessage | None]:
    """The exchange of a client id stored before (else None), and, when there is none, the
    reply being written in the conversation (else None): one read."""
    question, reply, streaming = selectors.exchange_previous(session=session, client_id=client_id)
    if question is None:
        return None, streaming
    if reply is None:
        raise NotFound("That message was already answered and its reply deleted.")
    return Exchange(question, reply, created=False), None


class _SeenBefore(Exception):
    """The client id was stored before: roll back the conversation's touch, return the pair."""


@transaction.atomic
def _exchange_store(
    *, session: ChatSession, client_id: str, text: str, image, provider, model, metadata
) -> Exchange:
    """Round trips: the conversation's touch (which also locks it), one read (the checks, the
    history and the conversation's values), one insert of both messages."""
    now = timezone.now()
    if session._state.adding:  # a new conversation: nobody else can see it, nothing to check
        session.title = session.title or title_from_words(text)
        session.last_activity_at = now
        session.save(force_insert=True)
        history: list[tuple[str, str]] = []
    else:
        _session_touch(session=session, first_text=text, now=now)
        seen = selectors.exchange_seen(session=session, client_id=client_id, before=now)
        for name, value in seen.stored.items():
            setattr(session, name, value)  # what the reply reads, as stored now
        if seen.client_id_seen:
            raise _SeenBefore
        if seen.streaming:
            raise Busy()
        history = seen.history
    question = ChatMessage(
        session=session,
        role=ChatMessage.Role.USER,
        text=text,
        image=image,
        client_id=client_id,
        metadata=metadata or {},
    )
    reply = _reply_new(session=session, question=question, provider=provider, model=model)
    # One INSERT; the rows' `created_at` are taken in this order (the question's first), after
    # `now`, as two INSERTs took them.
    ChatMessage.objects.bulk_create([question, reply])
    return Exchange(question, reply, created=True, history=history)


@transaction.atomic
def reply_regenerate(*, session: ChatSession, provider: str = "", model: str = "") -> Exchange:
    """Start a new `streaming` reply to the last question, to replace the current one. The
    exchange's question comes with its conversation's row as stored (`question.session`) and
    `history` the earlier turns with text, what its reply reads."""
    _session_touch(session=session)  # locks the row (a refusal below rolls the touch back)
    question, streaming = selectors.regenerate_seen(session=session)
    if streaming is not None:
        raise Busy()
    if question is None:
        raise NotFound(NO_QUESTION)
    # An earlier answer with text stays until the new one has text (replies_supersede): a
    # regeneration that fails must not lose it. Empty ones (failed) have nothing to keep.
    question.replies.filter(text="").delete()
    reply = _reply_create(session=session, question=question, provider=provider, model=model)
    history = selectors.message_history_before(question=question)
    return Exchange(question, reply, created=True, history=history)


def message_finish(*, message_id, status: str, text: str, **details: Any) -> ChatMessage:
    """Finish a `streaming` reply, exactly once. A second call raises InvalidTransition."""
    _finish(message_id=message_id, status=status, text=text, **details)
    return ChatMessage.objects.get(id=message_id)


def _finish(
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
) -> None:
    """`message_finish`'s one UPDATE, without reading the row back."""
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


def reply_store(
    *,
    message_id,
    session_id,
    escalate: bool = False,
    supersede: bool = False,
    question_id=None,
    **finish: Any,
) -> None:
    """Store a finished reply once (see `message_finish`), with what it changes in its
    conversation: escalated (`escalate`), earlier answers to its question replaced (`supersede`,
    a regenerated reply with text). One UPDATE when it changes nothing else (the usual case):
    no transaction, and the row is not read back."""
    if not (escalate or supersede):
        _finish(message_id=message_id, **finish)
        return
    with transaction.atomic():
        _finish(message_id=message_id, **finish)
        if escalate:
            session_escalate(session_id=session_id)
        if supersede:
            replies_supersede(reply_id=message_id, question_id=question_id)


def message_update(*, message: ChatMessage, pinned: bool) -> ChatMessage:
    message.pinned = pinned
    message.save(update_fields=["pinned"])
    return message


def message_delete(*, message: ChatMessage) -> None:
    message.delete()


def replies_supersede(*, reply_id, question_id=None) -> int:
    """Delete the earlier replies to the same question once a regenerated one is stored
    (`question_id`: that question, when the caller knows it)."""
    if question_id is None:
        question_id = ChatMessage.objects.values_list("reply_to_id", flat=True).get(id=reply_id)
    return ChatMessage.objects.filter(reply_to_id=question_id).exclude(id=reply_id).delete()[0]


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
    reply = _reply_new(session=session, question=question, provider=provider, model=model)
    reply.save(force_insert=True)
    return reply


def _reply_new(
    *, session: ChatSession, question: ChatMessage, provider: str, model: str
) -> ChatMessage:
    return ChatMessage(
        session=session,
        role=ChatMessage.Role.ASSISTANT,
        reply_to=question,
        status=ChatMessage.Status.STREAMING,
        provider=provider,
        model=model,
    )


areply_store = db_async(reply_store)


amessage_interrupt_orphan = db_async(message_interrupt_orphan)
