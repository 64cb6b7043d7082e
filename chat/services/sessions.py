"""Writes to conversations: create, open, rename, choose a model, rate, escalate, adopt, delete."""

from __future__ import annotations

from typing import Any

import structlog
from django.db.models import Case, F, Value, When
from django.utils import timezone

from chat import selectors
from chat.db import db_async
from chat.exceptions import Forbidden, InvalidInput, NotFound
from chat.identity import Owner
from chat.models import ChatSession
from chat.reply.choice import options_validate

log = structlog.get_logger(__name__)

TITLE_LENGTH = 60


def session_create(*, owner: Owner, **fields: Any) -> ChatSession:
    session = session_new(owner=owner, **fields)
    session.save(force_insert=True)
    return session


def session_new(
    *,
    owner: Owner,
    title: str = "",
    universe: str = "",
    context: dict[str, Any] | None = None,
    provider: str = "",
    model: str = "",
    generation_options: dict[str, Any] | None = None,
) -> ChatSession:
    """A conversation not stored yet: `exchange_begin` stores it with its first question."""
    return ChatSession(
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


def _session_touch(*, session: ChatSession, first_text: str = "", now=None) -> None:
    """One UPDATE (which locks the row until the transaction ends). Only an untitled
    conversation takes its first question as title: a rename made elsewhere in the meantime
    (REST) wins over this possibly stale `session` object."""
    now = now or timezone.now()
    changes: dict[str, Any] = {"last_activity_at": now, "updated_at": now}
    if first_text:
        title = title_from_words(first_text)
        changes["title"] = Case(When(title="", then=Value(title)), default=F("title"))
        if not session.title:
            session.title = title  # as stored, unless renamed meanwhile (read back by callers)
    if not ChatSession.objects.filter(pk=session.pk).update(**changes):  # deleted meanwhile
        raise NotFound("That conversation was deleted. Start a new conversation to ask again.")
    session.last_activity_at = session.updated_at = now


def title_from_words(text: str) -> str:
    """The first words of a question: a conversation's title until the model writes one."""
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


asession_open = db_async(session_open)


asession_rate = db_async(session_rate)
