"""Generating one reply: a task of its own, independent of the socket that asked for it.

`reply_start` publishes `start` on the reply's stream and runs the generation in a task; the
socket (or SSE response) that asked, and any that reconnect, read the stream. A dropped socket
does not stop the task; a stop request does. The reply row is written once, at the end, with the
text, usage, timings, sources and status; then `sources`, `usage` and `done` are published.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import structlog
from asgiref.sync import sync_to_async
from django.conf import settings

from chat import services
from chat.reply import retrieval
from chat.live import streams
from chat.guards.breaker import breaker_for, counts_as_failure
from chat.reply.escalation import escalation_event, escalation_reason
from chat.exceptions import InvalidTransition
from chat.identity import Owner
from chat.models import ChatMessage, ChatSession
from chat.reply.prompt import PromptBuilder, PromptInput
from chat.providers import GenerationOptions, ImageInput, Provider, ProviderError, get_provider
from chat.guards.quotas import quota_charge, usage_snapshot
from chat.guards.cache import CachedReply, cache_get, cache_key, cache_put
from chat.reply.universes import universe_get

log = structlog.get_logger(__name__)

FALLBACK_PROVIDER = "offline"
HISTORY_MESSAGES = 20

_tasks: dict[str, asyncio.Task] = {}
_providers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Provider]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class ReplyRequest:
    """What a reply needs, gathered by the consumer or the SSE view."""

    session_id: str
    reply_id: str
    question_id: str
    reply_to: str  # the client's id of the question
    owner: Owner
    page: dict = field(default_factory=dict)
    tz: str | None = None
    regenerate: bool = False  # the visitor asked for a new answer: never replay a cached one


@dataclass
class Outcome:
    """What happened while generating; becomes the stored reply and the `done` event."""

    parts: list[str] = field(default_factory=list)
    status: str = ChatMessage.Status.COMPLETE
    provider: str = ""
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    usage_estimated: bool = False
    ttft_ms: int | None = None
    error_code: str = ""
    error: str = ""
    sources: list[dict] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    cached: bool = False
    cache_key: str = ""  # set when this reply may be cached (a first turn, nothing private)
    question: str = ""
    earlier_questions: list[str] = field(default_factory=list)
    escalate_once: bool = True  # False when this conversation was already escalated

    @property
    def text(self) -> str:
        return "".join(self.parts)


def provider_for(name: str) -> Provider:
    """One provider instance per name and event loop (SDK clients belong to their loop)."""
    loop = asyncio.get_running_loop()
    cache = _providers.setdefault(loop, {})
    if name not in cache:
        cache[name] = get_provider(name)
    return cache[name]


async def reply_start(request: ReplyRequest) -> streams.ReplyStream:
    """Publish `start` and generate the reply in its own task. Return the reply's stream.

    With Redis, `start` is copied there before this returns, so that from the moment a client
    is told about the reply, every process can see that it is running.
    """
    stream = streams.stream_open(request.reply_id)
    stream.publish({"type": "start", "message": request.reply_id, "reply_to": request.reply_to})
    await stream.announce()
    # A fresh context: the reply outlives the request or socket that started it, and must not
    # inherit its per-request state (asgiref's executors, log bindings).
    task = asyncio.create_task(
        _run(request, stream), name=f"reply-{request.reply_id}", context=contextvars.Context()
    )
    _tasks[request.reply_id] = task
    task.add_done_callback(lambda _t: _tasks.pop(request.reply_id, None))
    return stream


async def replies_wait_idle(timeout: float = 30) -> None:
    """Wait for every running reply of this process (tests, graceful shutdown)."""
    pending = list(_tasks.values())
    if pending:
        await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), timeout)


async def _run(request: ReplyRequest, stream: streams.ReplyStream) -> None:
    started = time.monotonic()
    outcome = Outcome()
    structlog.contextvars.bind_contextvars(session_id=request.session_id, reply=request.reply_id)
    try:
        prompt = await sync_to_async(_prepare)(request, outcome)
        if outcome.cache_key and not request.regenerate:
            hit = await cache_get(outcome.cache_key)
            if hit is not None:
                _replay_cached(hit, stream, outcome, started)
                return
        await _generate_until_stopped(request, stream, outcome, prompt, started)
    except Exception:  # noqa: BLE001 - a bug must still end the reply, stored and announced
        log.exception("reply_crashed")
        outcome.status = ChatMessage.Status.FAILED if not outcome.parts else "interrupted"
        outcome.error_code = "internal"
        outcome.error = "Something went wrong on our side while answering. Please try again."
    finally:
        await _finish(request, stream, outcome, started)
        structlog.contextvars.unbind_contextvars("session_id", "reply")


async def _generate_until_stopped(request, stream, outcome, prompt, started) -> None:
    generation = asyncio.create_task(_generate(stream, outcome, prompt, started))
    stopper = asyncio.create_task(stream.wait_stop())
    try:
        await asyncio.wait({generation, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if not generation.done():
        generation.cancel()
        await asyncio.gather(generation, return_exceptions=True)
        outcome.status = ChatMessage.Status.STOPPED
        return
    generation.result()  # re-raise a crash


async def _generate(stream, outcome: Outcome, prompt: list, started: float) -> None:
    """Stream from the configured provider; before its first token, fall back to offline.

    The provider's circuit breaker counts its failures; while it is open the provider is not
    called at all and the offline answer is given at once.
    """
    name = settings.CHAT_PROVIDER
    breaker = breaker_for(name)
    if name != FALLBACK_PROVIDER and not breaker.allow():
        outcome.metadata["fallback_from"] = {"provider": name, "error": "circuit_open"}
    else:
        try:
            await _stream_from(name, settings.CHAT_MODEL, stream, outcome, prompt, started)
            breaker.record_success()
            return
        except ProviderError as exc:
            log.warning("provider_failed", provider=name, kind=exc.kind.value, partial=exc.partial)
            if counts_as_failure(exc):
                breaker.record_failure()
            if exc.partial or name == FALLBACK_PROVIDER:
                outcome.status = ChatMessage.Status.INTERRUPTED if exc.partial else "failed"
                outcome.error_code = "provider_unavailable"
                outcome.error = _error_message(exc)
                return
            outcome.metadata["fallback_from"] = {"provider": name, "error": exc.kind.value}
        except asyncio.CancelledError:
            if outcome.parts:  # stopped by the visitor while the provider was answering
                breaker.record_success()
            raise
    try:
        await _stream_from(FALLBACK_PROVIDER, "knowledge-base", stream, outcome, prompt, started)
    except ProviderError as exc:
        outcome.status = ChatMessage.Status.INTERRUPTED if exc.partial else "failed"
        outcome.error_code = "provider_unavailable"
        outcome.error = _error_message(exc)


async def _stream_from(name, model, stream, outcome: Outcome, prompt, started) -> None:
    provider = provider_for(name)
    outcome.provider, outcome.model = name, model
    options = GenerationOptions(**settings.CHAT_GENERATION)
    async for event in provider.stream(model=model, messages=prompt, options=options):
        if event.type == "token" and event.text:
            if outcome.ttft_ms is None:
                outcome.ttft_ms = streams.monotonic_ms(started)
            seq = len(outcome.parts)
            outcome.parts.append(event.text)
            stream.publish(
                {"type": "token", "message": stream.message_id, "seq": seq, "text": event.text}
            )
        elif event.type == "usage" and event.usage:
            outcome.input_tokens = event.usage.input_tokens
            outcome.output_tokens = event.usage.output_tokens
            outcome.usage_estimated = event.usage.estimated


CITATION = re.compile(r"\[(\d{1,2})\]")


def cited_sources(text: str, sources: list[dict]) -> list[dict]:
    """The passages the reply cites as [1], [2]...; all of them when it cites none."""
    cited = []
    for match in CITATION.finditer(text):
        index = int(match.group(1)) - 1
        if 0 <= index < len(sources) and sources[index] not in cited:
            cited.append(sources[index])
    return cited or sources


def _error_message(exc: ProviderError) -> str:
    if exc.partial:
        return "The answer was cut off because the model stopped responding. Press retry."
    return "The assistant is unavailable right now. Please try again in a moment."


def _replay_cached(hit: CachedReply, stream, outcome: Outcome, started: float) -> None:
    """Answer from the response cache: streamed at once, marked cached, no provider call."""
    outcome.cached = True
    outcome.provider, outcome.model = hit.provider, hit.model
    outcome.sources = hit.sources
    outcome.ttft_ms = streams.monotonic_ms(started)
    for piece in _pieces(hit.text):
        seq = len(outcome.parts)
        outcome.parts.append(piece)
        stream.publish({"type": "token", "message": stream.message_id, "seq": seq, "text": piece})


def _pieces(text: str, size: int = 24) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _prepare(request: ReplyRequest, outcome: Outcome) -> list:
    """Read what the prompt needs (one trip to the database) and build it.

    The question's own row is the source of truth (universe, "Ask AI about this" context,
    image), so a regenerated reply is built exactly like the first one.
    """
    question = ChatMessage.objects.get(id=request.question_id)
    session = ChatSession.objects.get(id=request.session_id)
    outcome.escalate_once = not session.escalated
    earlier = (
        session.messages.filter(created_at__lt=question.created_at)
        .exclude(text="")
        .order_by("-created_at")[:HISTORY_MESSAGES]
    )
    history = [(m.role, m.text) for m in reversed(earlier)]
    outcome.question = question.text
    outcome.earlier_questions = [text for role, text in history if role == ChatMessage.Role.USER]
    context = question.metadata.get("context") or {}
    universe = universe_get(question.metadata.get("universe") or session.universe)
    passages = retrieval.retrieve(question.text, limit=settings.CHAT_PASSAGES)
    outcome.sources = [p.as_source() for p in passages]
    universe_context = universe.load_context(
        question=question.text, page=request.page, context=context
    )
    prompt = PromptBuilder().build(
        PromptInput(
            question=question.text,
            history=history,
            images=_images_of(question),
            page=request.page,
            user=_describe(request.owner),
            universe=universe,
            universe_context=universe_context,
            context=context,
            passages=passages,
        )
    )
    if not history and not context and not question.image:
        # Only a first turn with nothing private; keyed on the whole prompt (persona, page,
        # passages, universe context) so no answer is served where its prompt differed.
        outcome.cache_key = cache_key(
            text="\n\n".join(m.content for m in prompt),
            universe=universe.key,
            kb_version=retrieval.knowledge_version(),
            model=f"{settings.CHAT_PROVIDER}:{settings.CHAT_MODEL}",
            options=settings.CHAT_GENERATION,
        )
    return prompt


def _images_of(question: ChatMessage) -> tuple[ImageInput, ...]:
    if not question.image:
        return ()
    import base64
    import mimetypes

    media_type = mimetypes.guess_type(question.image.name)[0] or "image/png"
    with question.image.open("rb") as handle:
        data = base64.b64encode(handle.read()).decode()
    return (ImageInput(media_type=media_type, data_base64=data),)


def _describe(owner: Owner) -> str:
    # No name or account details: nothing personal enters the prompt, so first-turn answers
    # can be shared through the response cache.
    if owner.user_id is None:
        return "an anonymous visitor (not logged in)"
    return "a logged-in customer"


async def _finish(request, stream: streams.ReplyStream, outcome: Outcome, started: float) -> None:
    total_ms = streams.monotonic_ms(started)
    if outcome.status == ChatMessage.Status.COMPLETE and not outcome.parts and not outcome.error:
        outcome.status = ChatMessage.Status.FAILED
        outcome.error_code = "provider_unavailable"
        outcome.error = "The model returned an empty answer. Please try again."
    if outcome.usage_estimated:
        outcome.metadata["usage_estimated"] = True
    outcome.sources = cited_sources(outcome.text, outcome.sources)
    await _charge(request, outcome)
    try:
        await sync_to_async(services.message_finish)(
            message_id=request.reply_id,
            status=outcome.status,
            text=outcome.text,
            input_tokens=outcome.input_tokens,
            output_tokens=outcome.output_tokens,
            ttft_ms=outcome.ttft_ms,
            total_ms=total_ms,
            sources=outcome.sources,
            error_code=outcome.error_code,
            error=outcome.error,
            provider=outcome.provider,
            model=outcome.model,
            metadata=outcome.metadata,
            cached=outcome.cached,
        )
        if request.regenerate and outcome.text:
            await sync_to_async(services.replies_supersede)(reply_id=request.reply_id)
    except (InvalidTransition, ChatMessage.DoesNotExist):
        log.warning("reply_finish_skipped", reason="message deleted or already finished")
    except Exception:  # noqa: BLE001 - the database is down: still end the stream for clients
        log.exception("reply_store_failed")
        outcome.error_code = outcome.error_code or "internal"
        outcome.error = outcome.error or "The reply could not be saved. Please try again."
    log.info(
        "reply_finished",
        status=outcome.status,
        provider=outcome.provider,
        model=outcome.model,
        tokens_in=outcome.input_tokens,
        tokens_out=outcome.output_tokens,
        ttft_ms=outcome.ttft_ms,
        total_ms=total_ms,
        fallback=bool(outcome.metadata.get("fallback_from")),
        cached=outcome.cached,
    )
    try:
        await _after_store(request, stream, outcome)
    except Exception:  # noqa: BLE001 - whatever fails here, clients still get `done`
        log.exception("reply_after_store_failed")
    finally:
        stream.publish(done_event(request.reply_id, outcome, total_ms, cached=outcome.cached))
        await stream.close()


async def _after_store(request: ReplyRequest, stream, outcome: Outcome) -> None:
    """Cache, then announce: error, sources, escalation, usage (`done` follows)."""
    if _cacheable(outcome):
        await cache_put(
            outcome.cache_key,
            CachedReply(outcome.text, outcome.sources, outcome.model, outcome.provider),
        )
    if outcome.error_code:
        stream.publish(
            {
                "type": "error",
                "code": outcome.error_code,
                "message": outcome.error,
                "reply_to": request.reply_to,
            }
        )
    if outcome.sources:
        stream.publish({"type": "sources", "message": request.reply_id, "items": outcome.sources})
    await _escalate_if_stuck(request, stream, outcome)
    stream.publish({"type": "usage", **await usage_snapshot(owner=request.owner, tz=request.tz)})


async def _escalate_if_stuck(request: ReplyRequest, stream, outcome: Outcome) -> None:
    """Offer a person, once per conversation, when the visitor seems stuck or frustrated."""
    if not outcome.escalate_once or not outcome.question:
        return
    failed = outcome.status == ChatMessage.Status.FAILED or (
        not outcome.sources and bool(outcome.metadata.get("fallback_from"))
    )
    reason = escalation_reason(
        question=outcome.question, earlier_questions=outcome.earlier_questions, failed=failed
    )
    if not reason:
        return
    await sync_to_async(services.session_escalate)(session_id=request.session_id)
    log.info("conversation_escalated", reason=reason)
    stream.publish(escalation_event(reason))


def _cacheable(outcome: Outcome) -> bool:
    return bool(
        outcome.cache_key
        and not outcome.cached
        and outcome.status == ChatMessage.Status.COMPLETE
        and not outcome.error_code
        and not outcome.metadata.get("fallback_from")
    )


async def _charge(request: ReplyRequest, outcome: Outcome) -> None:
    """Charge the reply to today's quota: one message, and the tokens the provider reported
    (a cached answer costs no tokens)."""
    tokens_in, tokens_out = (
        (0, 0) if outcome.cached else (outcome.input_tokens, outcome.output_tokens)
    )
    try:
        await quota_charge(
            owner=request.owner, tz=request.tz, input_tokens=tokens_in, output_tokens=tokens_out
        )
    except Exception:  # noqa: BLE001 - a failed charge must not lose the reply
        log.exception("quota_charge_failed")


def done_event(message_id: str, outcome: Outcome, total_ms: int, *, cached: bool = False) -> dict:
    return {
        "type": "done",
        "message": message_id,
        "status": outcome.status,
        "usage": {"input_tokens": outcome.input_tokens, "output_tokens": outcome.output_tokens},
        "ttft_ms": outcome.ttft_ms,
        "total_ms": total_ms,
        "cached": cached,
    }


def stored_reply_events(reply: ChatMessage, *, after_seq: int | None = None) -> list[dict]:
    """The events of a finished reply rebuilt from its row (its stream has expired)."""
    events: list[dict] = []
    if after_seq is None:
        reply_to = reply.reply_to.client_id if reply.reply_to_id else None
        events.append({"type": "start", "message": str(reply.id), "reply_to": reply_to})
        if reply.text:
            events.append({"type": "token", "message": str(reply.id), "seq": 0, "text": reply.text})
    if reply.error_code:
        events.append({"type": "error", "code": reply.error_code, "message": reply.error})
    if reply.sources:
        events.append({"type": "sources", "message": str(reply.id), "items": reply.sources})
    events.append(
        {
            "type": "done",
            "message": str(reply.id),
            "status": reply.status,
            "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
            "ttft_ms": reply.ttft_ms,
            "total_ms": reply.total_ms,
            "cached": reply.cached,
        }
    )
    return events
