"""The use-case layer: what a visitor can do in a conversation, the same over WebSocket and SSE.

The consumer and the SSE view parse frames and relay events; every decision is here: open a
conversation and greet (`conversation_ready`), ask (the checks of DESIGN.md in order:
validation, rate limit, daily quota; then store once per client id and start the reply),
regenerate, stop, rate, and follow or replay a reply. Each refusal raises a ChatError.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from chat import events, selectors, services
from chat.db import db_async
from chat.exceptions import (
    Busy,
    ChatError,
    InvalidInput,
    NotFound,
    QuotaExceeded,
    RateLimited,
)
from chat.guards import limits, quotas
from chat.identity import Owner, asker_for
from chat.live import streams
from chat.models import ChatMessage, ChatSession
from chat.providers.base import estimate_tokens
from chat.reply import retrieval
from chat.reply.lifecycle import ReplyRequest, reply_start
from chat.reply.universes import universe_get, universe_list
from chat.signals import Asker, ConversationRated, conversation_rated, send_later
from chat.validation import MessageIn, image_file

HISTORY_LIMIT = 50
QUOTA_WORDS = {
    "messages": "messages",
    "input_tokens": "reading allowance",
    "output_tokens": "answer allowance",
}

aasker_for = db_async(asker_for)


@dataclass(frozen=True)
class Visit:
    """Who is asking and from where, as the socket or request knows it."""

    owner: Owner
    asker: Asker
    page: dict
    tz: str | None = None
    language: str = ""
    ip: str | None = None


@dataclass(frozen=True)
class Asked:
    session: ChatSession
    ack: dict
    events: AsyncIterator[dict]


async def conversation_open(visit: Visit, session_id) -> ChatSession | None:
    """The visitor's conversation `session_id`; None for a new one, which is stored only with
    its first question (a `hello` alone stores nothing)."""
    if session_id is None:
        return None
    return await services.asession_open(owner=visit.owner, session_id=session_id)


async def conversation_ready(visit: Visit, session: ChatSession | None) -> dict:
    """The `ready` event: the conversation's recent history, its universes, today's usage, and
    what the widget replays with the history (the rating given, a person offered)."""
    history, conversation = [], None
    if session is not None:
        history = await selectors.amessage_history_serialized(session=session, limit=HISTORY_LIMIT)
        conversation = {"rating": session.rating, "escalated": session.escalated}
    return events.ready(
        session_id=str(session.id) if session is not None else None,
        history=history,
        universes=[u.as_dict() for u in universe_list(visit.asker)],
        usage=await quotas.usage_snapshot(owner=visit.owner, tz=visit.tz),
        conversation=conversation,
    )


async def ask(*, visit: Visit, session: ChatSession | None, incoming: MessageIn) -> Asked:
    """Store the question and start (or find) its reply. Raise ChatError to refuse it.

    A client id seen before is answered from what was stored, without counting against any
    limit. Otherwise the checks run in order (universe, rate limit, daily quota) and a refusal
    stores nothing, not even the new conversation (`session=None`) it would have opened.
    """
    try:
        exchange, streaming = None, None
        if session is not None:  # one trip: the same client id seen before, a reply running
            exchange, streaming = await _previous(session=session, client_id=incoming.client_id)
        if exchange is None:
            if incoming.universe:
                universe_get(incoming.universe, visit.asker)  # unknown or not theirs: refused
            if streaming is not None:
                await _refuse_if_busy(streaming)  # before the limits: a refusal costs nothing
            await _check_limits(visit, text=incoming.text)
            retrieval.prepare(incoming.text)  # embedded while the question is stored
            if session is None:  # stored with the question, in the same transaction
                session = services.session_new(owner=visit.owner)
            exchange, material = await _begin(session, incoming, visit.asker)
    except ChatError as exc:
        exc.reply_to = incoming.client_id
        raise
    ack = events.ack(
        client_id=incoming.client_id,
        message_id=str(exchange.question.id),
        session_id=str(session.id),
    )
    if not exchange.created:
        return Asked(session, ack, await reply_events(visit, exchange.reply, after_seq=None))
    request = _request(visit, session, exchange, incoming.client_id, material=material)
    stream = await reply_start(request)
    return Asked(session, ack, stream.subscribe())


async def regenerate(*, visit: Visit, session: ChatSession) -> AsyncIterator[dict]:
    """Answer the last question again, replacing its reply. Counts against the same limits
    as a new message: it costs a generation."""
    question, streaming = await selectors.aregenerate_seen(session=session)
    if question is None:
        raise NotFound(services.NO_QUESTION)
    await _refuse_if_busy(streaming)
    await _check_limits(visit, text=question.text)
    exchange, material = await _regenerate_begin(session, visit.asker)
    request = _request(
        visit,
        session,
        exchange,
        exchange.question.client_id or "",
        regenerate=True,
        material=material,
    )
    return (await reply_start(request)).subscribe()


async def stop(*, session: ChatSession) -> str:
    """Stop the reply being written in `session`, wherever it runs; return its id."""
    reply = await selectors.amessage_streaming(session=session)
    if reply is None or not await streams.stream_request_stop(str(reply.id)):
        raise InvalidInput("There is no reply being written to stop.")
    return str(reply.id)


async def rate(*, visit: Visit, session: ChatSession, score, comment) -> None:
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise InvalidInput("`score` must be a whole number from 1 to 5.")
    comment = comment or ""
    if not isinstance(comment, str):
        raise InvalidInput("`comment` must be text.")
    await services.asession_rate(session=session, score=score, comment=comment)
    send_later(
        conversation_rated,
        rating=ConversationRated(
            session_id=str(session.id),
            asker=visit.asker,
            score=score,
            comment=comment[:2000],
            rated_at=timezone.now(),
        ),
    )


async def resume(*, visit: Visit, session: ChatSession, resume_from, history: list[dict]):
    """After `ready`: the events a client missed of a reply (`resume_from` = {message, seq}),
    or those of a reply still streaming on a new page; None when there is nothing to follow."""
    if isinstance(resume_from, dict) and resume_from.get("message"):
        seq = resume_from.get("seq")
        after = seq if isinstance(seq, int) and not isinstance(seq, bool) else -1
        reply = await _reply_in(session, resume_from["message"])
        return await reply_events(visit, reply, after_seq=after)
    if history and history[-1]["status"] == ChatMessage.Status.STREAMING:
        reply = await _reply_in(session, history[-1]["id"])
        return await reply_events(visit, reply, after_seq=None)
    return None


async def reply_events(
    visit: Visit, reply: ChatMessage, *, after_seq: int | None
) -> AsyncIterator[dict]:
    """The events of an existing reply: from its stream if a process still has it, else rebuilt
    from the stored row (a reply left `streaming` by a dead process is marked interrupted)."""
    # Every piece from the start (to keep what was shown if the writer dies), filtered here; a
    # resumed reader gets the very pieces it lacks, one frame each, never joined ones.
    live = await streams.stream_subscribe(
        str(reply.id), after_seq=None, coalesce=after_seq is None
    )
    if live is None:
        return _stored(visit, reply, after_seq)
    return _until_done(visit, live, reply, after_seq)


async def _until_done(visit, live, reply: ChatMessage, after_seq) -> AsyncIterator[dict]:
    """Relay the events the client lacks; keep every token seen, so that if the process writing
    the reply dies, what its visitors were shown is stored with the interrupted reply."""
    pieces: list[str] = []
    seq = after_seq
    async for event in live:
        if event["type"] == "token":
            pieces.append(event["text"])
        if not streams.wanted(event, after_seq):
            continue
        yield event
        if event["type"] == "done":
            return
        if event["type"] == "token":
            seq = event["seq"]
        elif event["type"] == "start" and seq is None:
            seq = -1
    # The stream vanished before `done`: the process generating the reply died.
    async for event in _stored(visit, reply, seq, partial="".join(pieces)):
        yield event


async def _stored(visit: Visit, reply: ChatMessage, after_seq, *, partial: str = ""):
    reply = await reap_if_orphaned(reply, partial=partial)
    if reply.status == ChatMessage.Status.STREAMING:
        return
    reply = await selectors.amessage_for_replay(message_id=reply.id)
    usage = await quotas.usage_snapshot(owner=visit.owner, tz=visit.tz)
    for event in events.stored_reply(reply, after_seq=after_seq, usage_snapshot=usage):
        yield event


async def reap_if_orphaned(reply: ChatMessage, *, partial: str = "") -> ChatMessage:
    """Mark a reply `interrupted` when it is still `streaming` but no process holds its stream
    (a server died mid-reply), keeping the `partial` text its visitors were shown. Left alone
    while that cannot be known (Redis down), and, with Redis, while it is younger than a running
    stream's time to live."""
    if await streams.stream_exists(str(reply.id)) is not False:
        return reply
    age = (timezone.now() - reply.created_at).total_seconds()
    if settings.REDIS_URL and age < streams.ALIVE_TTL_MS / 1000 + 5 and not partial:
        return reply
    return await services.amessage_interrupt_orphan(message_id=reply.id, text=partial)


async def _check_limits(visit: Visit, *, text: str) -> None:
    decision = await limits.rate_limit_hit(
        keys=limits.rate_limit_keys(owner=visit.owner, ip=visit.ip)
    )
    if not decision.allowed:
        wait = max(1, round(decision.retry_after))
        raise RateLimited(
            f"You are sending messages too fast. Try again in {wait} s.",
            retry_after=decision.retry_after,
        )
    quota = await quotas.quota_check(
        owner=visit.owner, tz=visit.tz, estimated_input_tokens=estimate_tokens(text), ip=visit.ip
    )
    if not quota.allowed:
        hours = quota.retry_after / 3600
        raise QuotaExceeded(
            f"You have used today's {QUOTA_WORDS.get(quota.reason, 'quota')}. It resets at "
            f"midnight, in {hours:.1f} h."
            + ("" if visit.owner.is_authenticated else " Log in for a larger daily allowance."),
            retry_after=quota.retry_after,
        )


async def _refuse_if_busy(streaming: ChatMessage | None) -> None:
    """Raise Busy while `streaming` (the conversation's reply being written) runs. A reply cut
    off by a restart is settled first: it must not leave its conversation busy for ever."""
    if streaming is not None and (await reap_if_orphaned(streaming)).status == "streaming":
        raise Busy()


def _exchange_begin(
    session: ChatSession, incoming: MessageIn, asker: Asker
) -> tuple[services.Exchange, selectors.ReplyMaterial | None]:
    """Store the question; with a new one, what its reply is built from, read with it (the
    reply need not read again the rows just written)."""
    image = image_file(incoming.image) if incoming.image else None
    metadata = {
        key: value
        for key, value in (("universe", incoming.universe), ("context", incoming.context))
        if value
    }
    exchange = services.exchange_begin(
        session=session,
        client_id=incoming.client_id,
        text=incoming.text,
        image=image,
        metadata=metadata,
    )
    if not exchange.created or exchange.history is None:
        return exchange, None
    return exchange, selectors.reply_material_of(
        question=exchange.question, session=session, history=exchange.history, asker=asker
    )


def _reply_regenerate(
    session: ChatSession, asker: Asker
) -> tuple[services.Exchange, selectors.ReplyMaterial]:
    """Start the new reply, with what it is built from, read with it."""
    exchange = services.reply_regenerate(session=session)
    question = exchange.question
    return exchange, selectors.reply_material_of(
        question=question, session=question.session, history=exchange.history, asker=asker
    )


def _reply_in_session(session: ChatSession, message_id) -> ChatMessage:
    reply = selectors.message_in_session(session=session, message_id=message_id)
    if reply is None or reply.role != ChatMessage.Role.ASSISTANT:
        raise NotFound("That reply is not part of this conversation.")
    return reply


_previous = db_async(services.exchange_previous)
_begin = db_async(_exchange_begin)
_regenerate_begin = db_async(_reply_regenerate)
_reply_in = db_async(_reply_in_session)


def _request(
    visit: Visit,
    session: ChatSession,
    exchange: services.Exchange,
    reply_to: str,
    *,
    regenerate: bool = False,
    material: selectors.ReplyMaterial | None = None,
) -> ReplyRequest:
    return ReplyRequest(
        material=material,
        session_id=str(session.id),
        reply_id=str(exchange.reply.id),
        question_id=str(exchange.question.id),
        reply_to=reply_to,
        owner=visit.owner,
        page=visit.page,
        tz=visit.tz,
        language=visit.language,
        ip=visit.ip,
        regenerate=regenerate,
    )
