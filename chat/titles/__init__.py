"""Conversation titles, made after the first reply, in the background, at low priority.

A receiver of `reply_finished` (sent after commit from a worker thread, never awaited by the
reply path): after the first complete reply of a conversation, queue a title (chat.titles.queue:
made by the model while this process is not busy with replies, or after a maximum delay). The
conversation already carries its first words as a title (chat.services.sessions); that is the
fallback when the model is off, slow, or answers nonsense, or when the queue is full. A rename by
the visitor wins: the title is only replaced while it is still the first-words one, and a
conversation renamed while its title waited is not even sent to the model.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from concurrent.futures import CancelledError

import structlog
from asgiref.sync import SyncToAsync, async_to_sync
from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef
from django.dispatch import receiver

from chat.config import assistant_config
from chat.models import ChatMessage, ChatSession
from chat.providers import GenerationOptions, PromptMessage, ProviderError, get_provider
from chat.reply.choice import ModelChoice, choice_resolve
from chat.reply.generation import provider_for
from chat.services import TITLE_LENGTH, session_title_set, title_from_words
from chat.signals import FinishedReply, reply_finished, reply_in_flight
from chat.titles.queue import TitleJob, TitleQueue

log = structlog.get_logger(__name__)

TITLE_TIMEOUT = 15.0
TITLE_WORDS = 8
INSTRUCTION = (
    "Write a title of at most six words for the conversation below, in the language of the "
    "question. Answer with the title only: no quotes, no full stop."
)


def title_clean(raw: str) -> str:
    """The model's answer as a title, or "" when it does not look like one."""
    line = next((part for part in raw.strip().splitlines() if part.strip()), "")
    line = re.sub(r"^(title\s*:\s*)", "", line.strip(), flags=re.IGNORECASE)
    line = line.strip(" \t\"'`*#_“”‘’").rstrip(".").strip()
    if not line or len(line.split()) > TITLE_WORDS or len(line) > TITLE_LENGTH:
        return ""
    return line


@receiver(reply_finished, dispatch_uid="chat.titles.title_after_first_reply")
def title_after_first_reply(sender, reply: FinishedReply, **kwargs) -> None:
    if reply.status != ChatMessage.Status.COMPLETE or reply.regenerated:
        return
    words = title_from_words(reply.question)
    if not reply.question_id:
        return  # no stored question (never the first exchange's reply)
    others = ChatMessage.objects.filter(session_id=OuterRef("pk"), role=ChatMessage.Role.USER)
    rows = list(
        ChatSession.objects.filter(pk=reply.session_id)
        .annotate(asked_before=Exists(others.exclude(pk=reply.question_id)))
        .values_list("title", "asked_before")
    )  # one query
    if rows not in ([(words, False)], [("", False)]):
        return  # renamed, titled before, or not the first question
    job = TitleJob(
        session_id=reply.session_id, reply_id=reply.reply_id, question=reply.question,
        words=words, only_if=rows[0][0], loop=_server_loop(),
    )  # fmt: skip
    if not settings.CHAT_TITLES_BY_MODEL or not _queue.put(job):
        _title_set(job, title=words)  # the fallback, in place: no model call to wait for


@receiver(reply_in_flight, dispatch_uid="chat.titles.replies_in_flight")
def replies_in_flight(sender, delta: int, **kwargs) -> None:
    _queue.in_flight_add(delta)


def title_make(job: TitleJob) -> None:
    """Make a queued title (on a queue's thread): the model's, or the first words."""
    renamed = not ChatSession.objects.filter(pk=job.session_id, title=job.only_if).exists()
    if renamed:
        return  # renamed (or deleted) while it waited: not even asked
    answer = _answer(job.reply_id)
    connection.close()  # no database connection held across the model call
    title = title_generate(question=job.question, answer=answer, loop=job.loop) or job.words
    _title_set(job, title=title)


def title_generate(
    *, question: str, answer: str, loop: asyncio.AbstractEventLoop | None = None
) -> str:
    """Ask the configured model for a title; "" on any failure (the caller falls back). On
    `loop` (by default the server's loop this thread was started from) while it runs, else on a
    loop of its own."""
    if not settings.CHAT_TITLES_BY_MODEL:
        return ""
    server_loop = loop or _server_loop()
    choice = choice_resolve(config=assistant_config())  # here: it may read the operator's cache
    try:
        if server_loop is not None and server_loop.is_running():
            asking = _ask_model(question, answer, choice=choice, server_loop=server_loop)
            future = asyncio.run_coroutine_threadsafe(asking, server_loop)
            try:
                title = future.result(TITLE_TIMEOUT + 5)  # the loop may stop meanwhile
            finally:
                future.cancel()
        else:
            title = async_to_sync(_ask_model)(question, answer, choice=choice, server_loop=None)
        return title_clean(title)
    except (ProviderError, TimeoutError, OSError, CancelledError) as exc:
        log.warning("title_failed", error=getattr(exc, "message", repr(exc)))
        return ""


def titles_wait_idle_sync(timeout: float = 30) -> bool:
    """Wait until no title waits or is being made (tests); False on timeout."""
    return _queue.wait_idle(timeout)


async def titles_wait_idle(timeout: float = 30) -> None:
    """Wait, without blocking the loop titles may run on, until no title waits or is being
    made (tests)."""
    deadline = time.monotonic() + timeout
    while not _queue.idle():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{_queue.waiting()} titles still waiting")
        await asyncio.sleep(0.01)


def titles_reset() -> bool:
    """Drop waiting titles, wait for the ones being made, forget the replies counted in flight
    (tests). Return whether every title thread ended."""
    return _queue.reset()


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop this thread was started from, if any: asgiref keeps it in a thread-local
    and async_to_sync runs there while it is open. A direct call (a command, a test) gets a loop
    of its own that ends with the call."""
    threadlocal = SyncToAsync.threadlocal
    if getattr(threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    return getattr(threadlocal, "main_event_loop", None)


async def _ask_model(
    question: str,
    answer: str,
    *,
    choice: ModelChoice,
    server_loop: asyncio.AbstractEventLoop | None,
) -> str:
    shared = asyncio.get_running_loop() is server_loop
    # On the server's loop, its own provider (SDK client and connections), as replies use: a
    # new client per title cost an SSL context and a connection pool each (bench/README.md).
    # On a loop of its own, a provider of its own, closed with it.
    if shared:
        provider = provider_for(choice)
    else:
        provider = get_provider(choice.provider, api_key=choice.api_key, base_url=choice.base_url)
    messages = [
        PromptMessage(role="system", content=INSTRUCTION),
        PromptMessage(role="user", content=f"Question: {question[:600]}\n\nAnswer: {answer[:600]}"),
    ]
    options = GenerationOptions(temperature=0.2, max_tokens=20)
    try:
        collecting = _collect(provider, choice.model, messages, options)
        return await asyncio.wait_for(collecting, TITLE_TIMEOUT)
    finally:
        if not shared:
            await provider.aclose()


async def _collect(provider, model, messages, options) -> str:
    parts = []
    async for event in provider.stream(model=model, messages=messages, options=options):
        if event.type == "token":
            parts.append(event.text)
    return "".join(parts)


def _answer(reply_id) -> str:
    return ChatMessage.objects.filter(pk=reply_id).values_list("text", flat=True).first() or ""


def _title_set(job: TitleJob, *, title: str) -> None:
    if title == job.only_if:
        return  # the first words already (the fallback): nothing to write
    if session_title_set(session_id=job.session_id, title=title, only_if=job.only_if):
        log.info("conversation_titled", session_id=job.session_id, by_model=title != job.words,
                 waited_s=round(time.monotonic() - job.queued_at, 1))  # fmt: skip


_queue = TitleQueue(make=title_make)
