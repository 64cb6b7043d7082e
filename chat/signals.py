"""What chat tells the rest of the site: a reply finished, a conversation was rated or escalated.

Listeners (analytics, metrics, a host app) connect to these signals instead of editing the reply
path. Each is sent once, after the rows it describes are committed, from a worker thread that the
reply path does not wait for: a slow or failing listener never delays or breaks a reply
(`send_robust`, failures logged). Every payload is a frozen dataclass carrying everything a
listener needs, so that no listener has to query chat's tables to make sense of it.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from asgiref.sync import sync_to_async
from django.dispatch import Signal

log = structlog.get_logger(__name__)

#: sent with `reply=FinishedReply`
reply_finished = Signal()
#: sent with `rating=ConversationRated`
conversation_rated = Signal()
#: sent with `escalation=ConversationEscalated`
conversation_escalated = Signal()

# Gauges and counters for metrics, sent synchronously on the event loop where they happen:
# receivers must be cheap (a counter increment), never I/O.
#: `delta=+1` when a WebSocket opens, `-1` when it closes
socket_changed = Signal()
#: `delta=+1` when a reply starts generating in this process, `-1` when it ends
reply_in_flight = Signal()
#: `code=` rate_limited, quota_exceeded, busy, too_large, invalid, forbidden, ...
request_refused = Signal()
#: `provider=`, `kind=` (an ErrorKind value) when a provider call fails
provider_failed = Signal()
#: `provider=`, `state=` closed, open or half_open when a circuit breaker changes state
breaker_changed = Signal()


@dataclass(frozen=True)
class Asker:
    """Who asked, without personal data: `kind` is anonymous, user or staff; `role` is the host
    site's own role (CHAT_USER_ROLE), "" when it has none."""

    user_id: int | None
    visitor_key: str
    kind: str
    role: str = ""


@dataclass(frozen=True)
class FinishedReply:
    """One reply, stored and final (`status` is complete, stopped, failed or interrupted)."""

    reply_id: str
    question_id: str
    session_id: str
    asker: Asker
    question: str
    status: str
    provider: str
    model: str
    universe: str
    page_url: str
    input_tokens: int
    output_tokens: int
    usage_estimated: bool
    ttft_ms: int | None
    total_ms: int
    cached: bool
    fallback: bool  # answered by the offline fallback instead of the chosen provider
    error_code: str
    sources: list[dict] = field(default_factory=list)
    top_passage_score: float | None = None  # None: no passage cleared the threshold
    intent: str = ""  # the router's intent ("" when the visitor chose the universe)
    verdict: str = ""  # grounded, partly, ungrounded; "" when not checked
    escalation_reason: str = ""  # set when this reply offered a person
    regenerated: bool = False
    finished_at: datetime | None = None


@dataclass(frozen=True)
class ConversationRated:
    session_id: str
    asker: Asker
    score: int
    comment: str
    rated_at: datetime


@dataclass(frozen=True)
class ConversationEscalated:
    session_id: str
    reply_id: str
    asker: Asker
    reason: str  # asked, frustrated, repeated, unanswered
    escalated_at: datetime


def _send(signal: Signal, **payload) -> None:
    for receiver, result in signal.send_robust(sender="chat", **payload):
        if isinstance(result, Exception):
            log.error("signal_receiver_failed", receiver=repr(receiver), error=repr(result))


def send_now(signal: Signal, **payload) -> None:
    """Send a metrics signal in place (cheap receivers only); a failing receiver is logged."""
    _send(signal, **payload)


_pending: set[asyncio.Task] = set()
# Listeners run on threads of their own: on the loop's default executor they took the threads
# that the reply path's own `sync_to_async` calls need (validation.aparse_message), and a title
# being generated held one for up to its 15 s timeout (bench/README.md).
_listeners = ThreadPoolExecutor(max_workers=4, thread_name_prefix="signals")


def send_later(signal: Signal, **payload) -> None:
    """Send `signal` from a worker thread without waiting for it (call from async code, after
    commit). Listeners may use the ORM; the caller goes on at once."""
    task = asyncio.get_running_loop().create_task(
        sync_to_async(_send, thread_sensitive=False, executor=_listeners)(signal, **payload)
    )
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def signals_wait_idle() -> None:
    """Wait for signals still being delivered (tests, graceful shutdown)."""
    while _pending:
        await asyncio.gather(*list(_pending), return_exceptions=True)
