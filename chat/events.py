"""Every server-to-client event of PROTOCOL.md is built here, and nowhere else.

The live reply path, the replay of a stored reply (resume after its stream expired, a client id
sent again, history), the WebSocket consumer and the SSE view all call these constructors, so the
two ways a reply reaches a client cannot drift apart. `stored_reply` rebuilds, from the stored
row, exactly the events the live reply published (same token pieces and `seq`s, same order).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chat.exceptions import ChatError
from chat.models import ChatMessage

Event = dict[str, Any]


def ready(
    *, session_id: str | None, history: list[dict], universes: list[dict], usage: dict, **extra: Any
) -> Event:
    return {
        "type": "ready",
        "session": session_id,
        "history": history,
        "universes": universes,
        "usage": usage,
        **extra,
    }


def ack(*, client_id: str, message_id: str, session_id: str) -> Event:
    return {"type": "ack", "id": client_id, "message": message_id, "session": session_id}


def start(*, message_id: str, reply_to: str | None) -> Event:
    return {"type": "start", "message": message_id, "reply_to": reply_to}


def token(*, message_id: str, seq: int, text: str) -> Event:
    return {"type": "token", "message": message_id, "seq": seq, "text": text}


def sources(*, message_id: str, items: list[dict]) -> Event:
    return {"type": "sources", "message": message_id, "items": items}


def verdict(*, message_id: str, grounded: str, unsupported: list[list[int]]) -> Event:
    return {
        "type": "verdict",
        "message": message_id,
        "grounded": grounded,
        "unsupported": unsupported,
    }


def escalation(*, reason: str, text: str, contact: dict[str, str], message_id: str) -> Event:
    # `message` is the sentence shown to the visitor (PROTOCOL 1.0); `reply` names the reply.
    return {
        "type": "escalation",
        "message": text,
        "reason": reason,
        "contact": contact,
        "reply": message_id,
    }


def usage(snapshot: dict) -> Event:
    return {"type": "usage", **snapshot}


def done(
    *,
    message_id: str,
    status: str,
    input_tokens: int,
    output_tokens: int,
    ttft_ms: int | None,
    total_ms: int | None,
    cached: bool,
) -> Event:
    return {
        "type": "done",
        "message": message_id,
        "status": status,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        "ttft_ms": ttft_ms,
        "total_ms": total_ms,
        "cached": cached,
    }


def error(
    *, code: str, message: str, retry_after: float | None = None, reply_to: str | None = None
) -> Event:
    event: Event = {"type": "error", "code": code, "message": message}
    if retry_after is not None:
        event["retry_after"] = retry_after
    if reply_to is not None:
        event["reply_to"] = reply_to
    return event


def error_from(exc: ChatError) -> Event:
    return error(
        code=exc.code, message=exc.message, retry_after=exc.retry_after, reply_to=exc.reply_to
    )


def pong() -> Event:
    return {"type": "pong"}


def pieces_of(text: str, lengths: Iterable[int] | None) -> list[str]:
    """Cut `text` back into the pieces it streamed as (their lengths are stored with the reply);
    one piece when they are unknown or no longer add up (text edited after streaming)."""
    lengths = list(lengths or [])
    if not lengths or sum(lengths) != len(text):
        return [text] if text else []
    pieces, at = [], 0
    for length in lengths:
        pieces.append(text[at : at + length])
        at += length
    return pieces


def reply_tail(
    *,
    message_id: str,
    reply_to: str | None,
    error_code: str,
    error_text: str,
    source_items: list[dict],
    checked: dict | None,
    escalated: dict | None,
    usage_snapshot: dict | None,
) -> list[Event]:
    """What follows a reply's last token, in PROTOCOL order: error, sources, verdict,
    escalation, usage (then `done`)."""
    events: list[Event] = []
    if error_code:
        events.append(error(code=error_code, message=error_text, reply_to=reply_to))
    if source_items:
        events.append(sources(message_id=message_id, items=source_items))
    if checked:
        events.append(
            verdict(
                message_id=message_id,
                grounded=checked["grounded"],
                unsupported=checked.get("unsupported", []),
            )
        )
    if escalated:
        events.append(
            escalation(
                reason=escalated["reason"],
                text=escalated["message"],
                contact=escalated["contact"],
                message_id=message_id,
            )
        )
    if usage_snapshot is not None:
        events.append(usage(usage_snapshot))
    return events


def stored_reply(
    reply: ChatMessage, *, after_seq: int | None, usage_snapshot: dict | None
) -> list[Event]:
    """The events of a finished reply rebuilt from its row: the same as it published live.

    `after_seq` is the last token the client has (None: it has nothing, `start` included)."""
    message_id = str(reply.id)
    reply_to = reply.reply_to.client_id if reply.reply_to_id else None
    meta = reply.metadata or {}
    events: list[Event] = []
    if after_seq is None:
        events.append(start(message_id=message_id, reply_to=reply_to))
    for seq, piece in enumerate(pieces_of(reply.text, meta.get("pieces"))):
        if after_seq is None or seq > after_seq:
            events.append(token(message_id=message_id, seq=seq, text=piece))
    events += reply_tail(
        message_id=message_id,
        reply_to=reply_to,
        error_code=reply.error_code,
        error_text=reply.error,
        source_items=reply.sources,
        checked=meta.get("verdict"),
        escalated=meta.get("escalation"),
        usage_snapshot=usage_snapshot,
    )
    events.append(
        done(
            message_id=message_id,
            status=reply.status,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            ttft_ms=reply.ttft_ms,
            total_ms=reply.total_ms,
            cached=reply.cached,
        )
    )
    return events
