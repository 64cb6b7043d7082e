"""Finishing a reply: decide its status, store it once, charge it, offer a person, announce it.

Order, as PROTOCOL.md gives it: the row is stored (with what is needed to replay it exactly: its
token pieces, sources, verdict, escalation), then the stream gets `error`, `sources`, `verdict`,
`escalation`, `usage` and `done`, built by chat.events like every replay. Listeners
(`reply_finished`, `conversation_escalated`) are signalled last, from a worker thread, so that
analytics never delays a reply.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from functools import cache, partial

import structlog
from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from chat import events, services
from chat.exceptions import InvalidTransition
from chat.guards.cache import CachedReply, cache_put
from chat.guards.quotas import quota_charge, usage_snapshot
from chat.live import streams
from chat.models import ChatMessage
from chat.reply.context import ReplyInput, run_off_loop
from chat.reply.draft import Draft
from chat.reply.escalation import escalation_offer, escalation_reason
from chat.reply.grounding import check
from chat.signals import (
    ConversationEscalated,
    FinishedReply,
    conversation_escalated,
    reply_finished,
    send_later,
)

log = structlog.get_logger(__name__)

CITATION = re.compile(r"\[(\d{1,2})\]")


@dataclass(frozen=True)
class Offer:
    reason: str
    event: dict


@dataclass(frozen=True)
class Outcome:
    """What finishing decided about a reply, before it is stored and announced."""

    sources: list[dict]
    offer: Offer | None  # a person offered to the visitor
    verdict: dict | None  # the groundedness check's result (chat.events.verdict's fields)
    total_ms: int


async def reply_finish(
    *, request, stream: streams.ReplyStream, draft: Draft, reply_input: ReplyInput | None
) -> None:
    if draft.status == ChatMessage.Status.COMPLETE and not draft.pieces and not draft.error:
        draft.fail("provider_unavailable", "The model returned an empty answer. Please try again.")
    outcome = Outcome(
        sources=_sources(draft, reply_input),
        offer=_escalation(draft, reply_input),
        verdict=await _verdict(draft, reply_input),
        total_ms=streams.monotonic_ms(draft.started),
    )
    # Two rows, neither waits for the other: one round trip of time, not two, before `done`.
    _, stored = await asyncio.gather(_charge(request, draft), _store(request, draft, outcome))
    _log(draft, outcome)
    snapshot = await _after_store(request, draft, outcome, stored)
    for event in _announcements(request, draft, outcome, stored, snapshot):
        stream.publish(event)
    await stream.close()
    if stored and reply_input is not None:
        _signal(request, draft, reply_input, outcome)


async def _verdict(draft: Draft, reply_input: ReplyInput | None) -> dict | None:
    """The groundedness check of a complete reply against its passages (chat.reply.grounding):
    lexical, about a millisecond for 300 tokens; with CHAT_EMBEDDER, off the loop. None (no
    `verdict` event) when the reply had no passage to be checked against."""
    if reply_input is None or not reply_input.passages or not draft.text:
        return None
    if draft.status != ChatMessage.Status.COMPLETE:
        return None
    embed = _embedder(settings.CHAT_EMBEDDER)
    run = partial(
        check, draft.text, passages=reply_input.passages, embed=embed, support=draft.support
    )
    try:
        verdict = run() if embed is None else await run_off_loop(run)
    except Exception:  # noqa: BLE001 - a failed check must not lose the reply
        log.exception("reply_check_failed")
        return None
    return verdict.as_dict()


@cache
def _embedder(path: str):
    """The check's embedding function (settings.CHAT_EMBEDDER), or None: lexical only."""
    return import_string(path) if path else None


async def _after_store(request, draft: Draft, outcome: Outcome, stored: bool) -> dict | None:
    """Cache the answer when it may be shared; read today's usage for the `usage` event."""
    try:
        if _cacheable(draft) and stored:
            await cache_put(
                draft.cache_key,
                CachedReply(draft.text, outcome.sources, draft.model, draft.provider),
            )
        return await usage_snapshot(owner=request.owner, tz=request.tz)
    except Exception:  # noqa: BLE001 - whatever fails here, clients still get `done`
        log.exception("reply_after_store_failed")
        return None


def _announcements(
    request, draft: Draft, outcome: Outcome, stored: bool, snapshot: dict | None
) -> list[dict]:
    input_tokens, output_tokens = _tokens(draft)
    return [
        *events.reply_tail(
            message_id=request.reply_id,
            reply_to=request.reply_to,
            error_code=draft.error_code,
            error_text=draft.error,
            source_items=outcome.sources,
            checked=outcome.verdict,
            escalated=outcome.offer.event if outcome.offer and stored else None,
            usage_snapshot=snapshot,
        ),
        events.done(
            message_id=request.reply_id,
            status=draft.status,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            ttft_ms=draft.ttft_ms,
            total_ms=outcome.total_ms,
            cached=draft.cached,
        ),
    ]


def _log(draft: Draft, outcome: Outcome) -> None:
    tokens_in, tokens_out = _tokens(draft)
    log.info(
        "reply_finished",
        status=draft.status,
        provider=draft.provider,
        model=draft.model,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        ttft_ms=draft.ttft_ms,
        total_ms=outcome.total_ms,
        fallback=bool(draft.fallback_from),
        cached=draft.cached,
        verdict=(outcome.verdict or {}).get("grounded", ""),
    )


def cited_sources(text: str, sources: list[dict]) -> list[dict]:
    """The passages the reply cites as [1], [2]...; all of them when it cites none."""
    cited = []
    for match in CITATION.finditer(text):
        index = int(match.group(1)) - 1
        if 0 <= index < len(sources) and sources[index] not in cited:
            cited.append(sources[index])
    return cited or sources


def _sources(draft: Draft, reply_input: ReplyInput | None) -> list[dict]:
    if draft.cached_sources is not None:
        return draft.cached_sources
    if reply_input is None:
        return []
    return cited_sources(draft.text, [p.as_source() for p in reply_input.passages])


def _escalation(draft: Draft, reply_input: ReplyInput | None) -> Offer | None:
    """Offer a person, once per conversation, when the visitor seems stuck or frustrated."""
    if reply_input is None or reply_input.escalated:
        return None
    failed = draft.status == ChatMessage.Status.FAILED or (
        not reply_input.passages and bool(draft.fallback_from)
    )
    reason = escalation_reason(
        question=reply_input.question,
        earlier_questions=reply_input.earlier_questions,
        failed=failed,
    )
    return Offer(reason, escalation_offer(reason)) if reason else None


async def _charge(request, draft: Draft) -> None:
    """Charge one message and the tokens the provider reported (a cached answer costs no
    tokens; a reply that failed before its first token costs nothing)."""
    if not draft.pieces:
        return
    tokens_in, tokens_out = (0, 0) if draft.cached else _tokens(draft)
    try:
        await quota_charge(
            owner=request.owner,
            ip=request.ip,
            tz=request.tz,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
        )
    except Exception:  # noqa: BLE001 - a failed charge must not lose the reply
        log.exception("quota_charge_failed")


async def _store(request, draft: Draft, outcome: Outcome) -> bool:
    """Store the reply once; False when it could not be (deleted meanwhile, database down)."""
    metadata = {"pieces": [len(p) for p in draft.pieces]} if draft.final_text is None else {}
    if draft.usage is not None and draft.usage.estimated:
        metadata["usage_estimated"] = True
    if draft.fallback_from:
        metadata["fallback_from"] = draft.fallback_from
    if outcome.offer is not None:
        metadata["escalation"] = outcome.offer.event
    if outcome.verdict is not None:
        metadata["verdict"] = outcome.verdict
    input_tokens, output_tokens = _tokens(draft)
    try:
        await services.areply_store(
            message_id=request.reply_id,
            session_id=request.session_id,
            status=draft.status,
            text=draft.stored_text,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            ttft_ms=draft.ttft_ms,
            total_ms=outcome.total_ms,
            sources=outcome.sources,
            error_code=draft.error_code,
            error=draft.error,
            provider=draft.provider,
            model=draft.model,
            metadata=metadata,
            cached=draft.cached,
            escalate=outcome.offer is not None,
            supersede=request.regenerate and bool(draft.pieces),
            question_id=request.question_id,
        )
        return True
    except (InvalidTransition, ChatMessage.DoesNotExist):
        log.warning("reply_finish_skipped", reason="message deleted or already finished")
    except Exception:  # noqa: BLE001 - the database is down: still end the stream for clients
        log.exception("reply_store_failed")
        if not draft.error_code:
            draft.error_code, draft.error = (
                "internal",
                "The reply could not be saved. Please try again.",
            )
    return False


def _cacheable(draft: Draft) -> bool:
    return bool(
        draft.cache_key
        and draft.final_text is None
        and not draft.cached
        and not draft.error_code
        and draft.status == ChatMessage.Status.COMPLETE
        and not draft.fallback_from
    )


def _tokens(draft: Draft) -> tuple[int, int]:
    if draft.usage is None:
        return 0, 0
    return draft.usage.input_tokens, draft.usage.output_tokens


def _signal(request, draft: Draft, reply_input: ReplyInput, outcome: Outcome) -> None:
    now = timezone.now()
    send_later(reply_finished, reply=_finished_reply(request, draft, reply_input, outcome, now))
    if outcome.offer is not None:
        escalation = ConversationEscalated(
            session_id=request.session_id,
            reply_id=request.reply_id,
            asker=reply_input.asker,
            reason=outcome.offer.reason,
            escalated_at=now,
        )
        send_later(conversation_escalated, escalation=escalation)


def _finished_reply(
    request, draft: Draft, reply_input: ReplyInput, outcome: Outcome, now
) -> FinishedReply:
    input_tokens, output_tokens = _tokens(draft)
    passages = reply_input.passages
    return FinishedReply(
        reply_id=request.reply_id,
        question_id=request.question_id,
        session_id=request.session_id,
        asker=reply_input.asker,
        question=reply_input.question,
        status=draft.status,
        provider=draft.provider,
        model=draft.model,
        universe=reply_input.universe.key,
        page_url=str(reply_input.page.get("url", ""))[:500],
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        usage_estimated=bool(draft.usage and draft.usage.estimated),
        ttft_ms=draft.ttft_ms,
        total_ms=outcome.total_ms,
        cached=draft.cached,
        fallback=bool(draft.fallback_from),
        error_code=draft.error_code,
        sources=outcome.sources,
        top_passage_score=passages[0].score if passages else None,
        intent=reply_input.route.intent,
        verdict=(outcome.verdict or {}).get("grounded", ""),
        escalation_reason=outcome.offer.reason if outcome.offer else "",
        regenerated=request.regenerate,
        finished_at=now,
    )
