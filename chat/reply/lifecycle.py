"""One reply's life: a task of its own, independent of the socket or request that asked for it.

`reply_start` publishes `start` on the reply's stream and runs `_run` in a task; the socket (or SSE
response) that asked, and any that reconnect, read the stream. A dropped socket does not stop the
task; a stop request does. `_run` reads as the reply's whole story:

    choice   = the model, options and profile, resolved once       (chat.reply.choice)
    input    = the question, who and where, passages, app context  (chat.reply.context)
    prompt   = the parts and messages                              (chat.reply.prompt)
    answer   = from the response cache, or generated               (chat.reply.generation)
    finish   = stored once, charged, announced, signalled          (chat.reply.finish)
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from dataclasses import dataclass, field, replace

import structlog
from django.conf import settings

from chat import events, selectors
from chat.config import assistant_config
from chat.guards.cache import CachedReply, cache_get, cache_key
from chat.identity import Owner
from chat.live import streams
from chat.models import ChatMessage
from chat.providers import StreamEvent
from chat.providers.offline import MODEL_ID as OFFLINE_MODEL
from chat.reply.choice import ModelChoice, choice_resolve
from chat.reply.context import ReplyInput, context_gather, run_off_loop
from chat.reply.draft import Draft
from chat.reply.echo import REFUSAL, EchoGuard
from chat.reply.finish import reply_finish
from chat.reply.generation import FALLBACK, Answering, GenerationFailed, generate
from chat.reply.links import LinkGuardStream
from chat.reply.profiles import options_for, profile_for, reply_opening
from chat.reply.prompt import Prompt, PromptBuilder
from chat.reply.tokens import counter_for, counter_loaded
from chat.signals import reply_in_flight, send_now

log = structlog.get_logger(__name__)

_tasks: dict[str, asyncio.Task] = {}


@dataclass(frozen=True)
class ReplyRequest:
    """What a reply needs, gathered by the use-case layer (chat.usecases)."""

    session_id: str
    reply_id: str
    question_id: str
    reply_to: str  # the client's id of the question
    owner: Owner
    page: dict = field(default_factory=dict)
    tz: str | None = None
    language: str = ""
    ip: str | None = None  # an anonymous visitor's usage also counts against its IP network
    regenerate: bool = False  # the visitor asked for a new answer: never replay a cached one
    # What the reply is built from, when the caller read it with the question (a new question):
    # else read at the reply's start.
    material: selectors.ReplyMaterial | None = None


async def reply_start(request: ReplyRequest) -> streams.ReplyStream:
    """Publish `start` and generate the reply in its own task. Return the reply's stream.

    With Redis, `start` is copied there before this returns, so that from the moment a client
    is told about the reply, every process can see that it is running.
    """
    stream = streams.stream_open(request.reply_id)
    stream.publish(events.start(message_id=request.reply_id, reply_to=request.reply_to))
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
    draft = Draft(started=time.monotonic())
    reply_input: ReplyInput | None = None
    structlog.contextvars.bind_contextvars(session_id=request.session_id, reply=request.reply_id)
    send_now(reply_in_flight, delta=1)
    try:
        material, config = await asyncio.gather(  # the operator's overlay may read Redis
            _material(request), run_off_loop(assistant_config)
        )
        choice = choice_resolve(
            config=config,
            session_model=material.session_model,
            session_options=material.session_options,
        )
        profile = profile_for(choice.profile)  # how much the model reads and may write
        choice = replace(choice, options=options_for(profile, choice.options))
        reply_input = await context_gather(
            material=material,
            page=request.page,
            language=request.language,
            choice=choice,
            passages_limit=profile.passage_limit(settings.CHAT_PASSAGES),
        )
        draft.support = dict(config.support)
        prompt = await _build_prompt(config, choice, reply_input)
        draft.cache_key = (
            _cache_key(request, reply_input, prompt, choice) if (reply_input.kb_version) else ""
        )
        hit = await cache_get(draft.cache_key) if draft.cache_key else None
        if hit is not None:
            _answer_from_cache(hit, stream, draft)
        else:
            await _answer_until_stopped(choice, prompt, reply_input, stream, draft)
    except Exception:  # noqa: BLE001 - a bug must still end the reply, stored and announced
        log.exception("reply_crashed")
        draft.fail(
            "internal", "Something went wrong on our side while answering. Please try again."
        )
    finally:
        send_now(reply_in_flight, delta=-1)
        await reply_finish(request=request, stream=stream, draft=draft, reply_input=reply_input)
        structlog.contextvars.unbind_contextvars("session_id", "reply")


async def _material(request: ReplyRequest) -> selectors.ReplyMaterial:
    if request.material is not None:
        return request.material
    return await selectors.areply_material(question_id=request.question_id, owner=request.owner)


async def _answer_until_stopped(
    choice, prompt: Prompt, reply_input: ReplyInput, stream, draft: Draft
) -> None:
    generation = asyncio.create_task(_answer(choice, prompt, reply_input, stream, draft))
    stopper = asyncio.create_task(stream.wait_stop())
    try:
        await asyncio.wait({generation, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if not generation.done():
        generation.cancel()
        await asyncio.gather(generation, return_exceptions=True)
        draft.status = ChatMessage.Status.STOPPED
        return
    generation.result()  # re-raise a crash


async def _answer(
    choice: ModelChoice, prompt: Prompt, reply_input: ReplyInput, stream, draft: Draft
) -> None:
    """Relay what the model says to the stream through the link guard, keeping it in the
    draft; stop it the moment it recites its instructions. The small profile opens with the best
    passage's own words (or the closest one's, or says nothing matched) and then does not call
    the model."""
    guard = EchoGuard(prompt.instructions())
    links = _link_guard(reply_input, draft)
    frames = Frames(stream, draft, settings.CHAT_STREAM_FRAME_MS / 1000)
    try:
        opening = None
        if reply_input.passages or not _has_facts(reply_input):
            # With an app's facts and no passage (a race question), the model answers from them.
            opening = reply_opening(
                profile_for(choice.profile),
                question=reply_input.question,
                passages=reply_input.passages,
                support=draft.support,
            )
        if opening is not None:
            _relay(opening.text, links, frames)
            if not opening.model:
                draft.answered_by(FALLBACK, OFFLINE_MODEL, None)  # the help center's own words
                return
        async for said in generate(choice, prompt.messages, passages=reply_input.passages):
            if isinstance(said, Answering):
                draft.answered_by(said.provider, said.model, said.fallback_from)
            elif said.type == "token" and said.text:
                _relay(said.text, links, frames)
                if guard.recited(draft.tail() + frames.waiting + links.pending):
                    links.pending = ""  # the held-back rest of the recital is never shown
                    frames.flush()  # shown as before: the run that gave it away, at most
                    _refuse_recital(guard, stream, draft)
                    return
            elif isinstance(said, StreamEvent) and said.type == "usage" and said.usage:
                draft.usage = said.usage
    except GenerationFailed as exc:
        draft.fail("provider_unavailable", exc.message, partial=exc.partial)
    finally:
        _relay(None, links, frames)


def _link_guard(reply_input: ReplyInput, draft: Draft) -> LinkGuardStream:
    """Links, addresses and numbers that no passage, the site or the allowlist vouches for
    become plain text before they reach the stream (chat.reply.links)."""
    return LinkGuardStream(
        sources=reply_input.passages,
        site_hosts=settings.ALLOWED_HOSTS,
        allowlist=settings.CHAT_LINK_ALLOWLIST,
        support=draft.support,
    )


def _relay(text: str | None, links: LinkGuardStream, frames: Frames) -> None:
    """Publish what the guard releases of `text` (None: the end, release the rest now)."""
    try:
        shown = links.close() if text is None else links.feed(text)
        if shown:
            frames.add(shown)
    finally:
        if text is None:
            frames.flush()  # never a timer left to publish after the reply


class Frames:
    """A reply's pieces into `token` events: the first at once (time to first token), the next
    at most one event per `window` seconds, the pieces that came between joined into it. The
    draft keeps the events' pieces, so a reply replayed from the database (chat.events) has
    the frames and `seq` numbers it had live. At 200 replies at once: a third of the frames, 8-14%
    off the CPU per token (bench/README.md, "Fourth pass")."""

    def __init__(self, stream, draft: Draft, window: float) -> None:
        self.stream, self.draft, self.window = stream, draft, window
        self.waiting = ""  # shown next, not published yet (the guards read it with the tail)
        self.sent_at = float("-inf")
        self.timer: asyncio.TimerHandle | None = None

    def add(self, piece: str) -> None:
        first = not self.waiting
        self.waiting += piece
        now = time.monotonic()
        if first and now - self.sent_at >= self.window:
            self.flush()
        elif self.timer is None:
            wait = self.window - (now - self.sent_at)
            self.timer = asyncio.get_running_loop().call_later(wait, self.flush)

    def flush(self) -> None:
        """Publish what waits now (its window passed, or the reply ends)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.waiting:
            text, self.waiting = self.waiting, ""
            self.sent_at = time.monotonic()
            _publish(self.stream, self.draft, text)


def _publish(stream, draft: Draft, text: str) -> None:
    """Keep `text` as the draft's next piece and publish it as the `token` with its `seq`."""
    seq = draft.add(text)
    stream.publish(events.token(message_id=stream.message_id, seq=seq, text=text))


def _has_facts(reply_input: ReplyInput) -> bool:
    """Whether an app gave this question facts of its own (a context source's part)."""
    return any(p.trusted and not p.source.startswith("knowledge.") for p in reply_input.parts)


def _refuse_recital(guard: EchoGuard, stream, draft: Draft) -> None:
    """Keep what came before the recitation, end with a refusal (the stored text has no trace
    of the instructions; live clients saw at most the run that gave it away)."""
    log.warning("reply_recited_instructions")
    kept = guard.cut(draft.text)
    _publish(stream, draft, f"\n\n{REFUSAL}")
    draft.final_text = f"{kept}\n\n{REFUSAL}" if kept else REFUSAL


async def _build_prompt(config, choice: ModelChoice, reply_input: ReplyInput) -> Prompt:
    """Count with the model's tokenizer and build the prompt: about a millisecond, on the loop,
    once the tokenizer is loaded (its first load, a GGUF read, runs off the loop)."""
    count = counter_loaded(choice.model) or await run_off_loop(counter_for, choice.model)
    return PromptBuilder(config, count=count).build(reply_input)


def _answer_from_cache(hit: CachedReply, stream, draft: Draft) -> None:
    """Streamed at once, marked cached, no provider call."""
    draft.cached = True
    draft.answered_by(hit.provider, hit.model, None)
    draft.cached_sources = hit.sources
    for piece in _pieces(hit.text):
        _publish(stream, draft, piece)


def _cache_key(
    request: ReplyRequest, reply_input: ReplyInput, prompt: Prompt, choice: ModelChoice
) -> str:
    """Only a first turn with nothing private may share an answer; keyed on the whole prompt
    (persona, page, passages, context parts), so none is served where its prompt differed."""
    if (
        request.regenerate
        or not reply_input.first_turn
        or reply_input.client_context
        or reply_input.images
        or reply_input.image_unread
    ):
        return ""
    return cache_key(
        text=prompt.text(),
        universe=reply_input.universe.key,
        kb_version=reply_input.kb_version,
        model=choice.label,
        options={"fingerprint": choice.fingerprint()},
    )


def _pieces(text: str, size: int = 24) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]
