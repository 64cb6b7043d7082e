"""Asking a question, the same way over the WebSocket and over SSE.

`ask` runs the checks of DESIGN.md in order (validation, rate limit, daily quota), stores the
question once per client id, and returns the `ack` event with the events of the reply to relay:
a new reply's stream, or, for a client id seen before, the stored reply's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from chat import selectors, services
from chat.guards import limits
from chat.guards import quotas
from chat.reply import lifecycle as replies
from chat.live import streams
from chat.exceptions import ChatError, NotFound, QuotaExceeded, RateLimited
from chat.identity import Owner
from chat.models import ChatMessage, ChatSession
from chat.providers.base import estimate_tokens
from chat.reply.universes import universe_get
from chat.validation import MessageIn, image_file

HISTORY_LIMIT = 50


def session_for(owner: Owner, session_id) -> ChatSession:
    """Open the owner's conversation `session_id`, or a new one when it is None."""
    return services.session_open(
        owner=owner,
        session_id=session_id,
        provider=settings.CHAT_PROVIDER,
        model=settings.CHAT_MODEL,
        generation_options=settings.CHAT_GENERATION,
    )


def history_of(session: ChatSession) -> list[dict]:
    """The last messages of a conversation, serialised for `ready`."""
    messages = selectors.message_history(session=session, limit=HISTORY_LIMIT)
    return [selectors.message_serialize(m) for m in messages]


@dataclass(frozen=True)
class Asked:
    session: ChatSession
    ack: dict
    events: AsyncIterator[dict]


async def ask(
    *,
    session: ChatSession | None,
    owner: Owner,
    incoming: MessageIn,
    page: dict,
    tz: str | None,
    ip: str | None,
) -> Asked:
    """Store the question and start (or find) its reply. Raise ChatError to refuse it.

    A client id seen before is answered from what was stored, without counting against any
    limit. Otherwise the checks run in order (universe, rate limit, daily quota) and a refusal
    stores nothing, not even the new conversation (`session=None`) it would have opened.
    """
    try:
        exchange = None
        if session is not None:
            exchange = await database_sync_to_async(_previous)(session, incoming.client_id)
        if exchange is None:
            universe_get(incoming.universe)
            await _check_limits(owner=owner, ip=ip, tz=tz, text=incoming.text)
            if session is None:
                session = await database_sync_to_async(session_for)(owner, None)
            await _reap_stale_reply(session)
            exchange = await database_sync_to_async(_begin)(session, incoming)
    except ChatError as exc:
        exc.reply_to = incoming.client_id
        raise
    ack = {"type": "ack", "id": incoming.client_id, "message": str(exchange.question.id)}
    if not exchange.created:
        return Asked(session, ack, await reply_events(exchange.reply, after_seq=None))
    stream = await replies.reply_start(
        replies.ReplyRequest(
            session_id=str(session.id),
            reply_id=str(exchange.reply.id),
            question_id=str(exchange.question.id),
            reply_to=incoming.client_id,
            owner=owner,
            page=page,
            tz=tz,
        )
    )
    return Asked(session, ack, stream.subscribe())


async def _check_limits(*, owner: Owner, ip: str | None, tz: str | None, text: str) -> None:
    decision = await limits.rate_limit_hit(keys=limits.rate_limit_keys(owner=owner, ip=ip))
    if not decision.allowed:
        wait = max(1, round(decision.retry_after))
        raise RateLimited(
            f"You are sending messages too fast. Try again in {wait} s.",
            retry_after=decision.retry_after,
        )
    quota = await quotas.quota_check(
        owner=owner, tz=tz, estimated_input_tokens=estimate_tokens(text)
    )
    if not quota.allowed:
        hours = quota.retry_after / 3600
        raise QuotaExceeded(
            f"You have used today's {QUOTA_WORDS.get(quota.reason, 'quota')}. It resets at "
            f"midnight, in {hours:.1f} h."
            + ("" if owner.is_authenticated else " Log in for a larger daily allowance."),
            retry_after=quota.retry_after,
        )


QUOTA_WORDS = {
    "messages": "messages",
    "input_tokens": "reading allowance",
    "output_tokens": "answer allowance",
}


async def _reap_stale_reply(session: ChatSession) -> None:
    """A reply cut off by a restart must not leave its conversation `busy` for ever."""
    streaming = await database_sync_to_async(selectors.message_streaming)(session=session)
    if streaming is not None:
        await reap_if_orphaned(streaming)


def _previous(session: ChatSession, client_id: str) -> services.Exchange | None:
    question = selectors.message_by_client_id(session=session, client_id=client_id)
    if question is None:
        return None
    reply = selectors.message_reply(user_message=question)
    if reply is None:
        raise NotFound("That message was already answered and its reply deleted.")
    return services.Exchange(question, reply, created=False)


async def regenerate(
    *, session: ChatSession, owner: Owner, page: dict, tz: str | None, ip: str | None
) -> AsyncIterator[dict]:
    """Answer the last question again, replacing its reply. Counts against the same limits
    as a new message: it costs a generation."""
    question = await database_sync_to_async(selectors.message_last_user)(session=session)
    if question is None:
        raise NotFound("There is no question to answer again in this conversation.")
    await _check_limits(owner=owner, ip=ip, tz=tz, text=question.text)
    await _reap_stale_reply(session)
    exchange = await database_sync_to_async(services.reply_regenerate)(session=session)
    stream = await replies.reply_start(
        replies.ReplyRequest(
            session_id=str(session.id),
            reply_id=str(exchange.reply.id),
            question_id=str(exchange.question.id),
            reply_to=exchange.question.client_id or "",
            owner=owner,
            page=page,
            tz=tz,
            regenerate=True,
        )
    )
    return stream.subscribe()


async def reply_events(reply: ChatMessage, *, after_seq: int | None) -> AsyncIterator[dict]:
    """The events of an existing reply: from its stream if a process still has it, else rebuilt
    from the stored row (a reply left `streaming` by a dead process is marked interrupted)."""
    events = await streams.stream_subscribe(str(reply.id), after_seq=after_seq)
    if events is None:
        return _stored(reply, after_seq)
    return _until_done(events, reply, after_seq)


async def _until_done(events, reply: ChatMessage, after_seq: int | None) -> AsyncIterator[dict]:
    seq = after_seq
    async for event in events:
        yield event
        if event["type"] == "done":
            return
        if event["type"] == "token":
            seq = event["seq"]
    # The stream vanished before `done`: the process generating the reply died.
    async for event in _stored(reply, seq):
        yield event


async def _stored(reply: ChatMessage, after_seq: int | None) -> AsyncIterator[dict]:
    reply = await reap_if_orphaned(reply)
    if reply.status != ChatMessage.Status.STREAMING:
        stored = await database_sync_to_async(replies.stored_reply_events)(
            reply, after_seq=after_seq
        )
        for event in stored:
            yield event


async def reap_if_orphaned(reply: ChatMessage) -> ChatMessage:
    """Mark a reply `interrupted` when it is still `streaming` but no process holds its stream
    (a server restarted mid-reply). Left alone while that cannot be known (Redis down), and,
    with Redis, while it is younger than a running stream's time to live."""
    if await streams.stream_exists(str(reply.id)) is not False:
        return reply
    age = (timezone.now() - reply.created_at).total_seconds()
    if settings.REDIS_URL and age < streams.ALIVE_TTL_MS / 1000 + 5:
        return reply
    return await database_sync_to_async(_reap_if_orphaned)(reply)


def _begin(session: ChatSession, incoming: MessageIn) -> services.Exchange:
    image = image_file(incoming.image) if incoming.image else None
    return services.exchange_begin(
        session=session,
        client_id=incoming.client_id,
        text=incoming.text,
        image=image,
        provider=settings.CHAT_PROVIDER,
        model=settings.CHAT_MODEL,
        metadata={
            key: value
            for key, value in (("universe", incoming.universe), ("context", incoming.context))
            if value
        },
    )


def _reap_if_orphaned(reply: ChatMessage) -> ChatMessage:
    """A reply still `streaming` with no stream anywhere was cut off by a server restart."""
    reply.refresh_from_db()
    if reply.status != ChatMessage.Status.STREAMING:
        return reply
    return services.message_interrupt_orphan(message_id=reply.id)
