"""The SSE fallback, `POST /api/chat/stream/`: the WebSocket's events as `text/event-stream`.

For clients behind proxies that block WebSockets, and for scripts. The body is
`{"session": id|null, "message": {...}, "page"?: {...}}`; refusals before the stream are HTTP
errors (400, 403, 404, 409, 413, 429); then `ready`, `ack` and the reply's events, in the
WebSocket's order, ending with `done` (or `error`), with `: ping` comments in silences.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import StreamingHttpResponse
from django.views.decorators.http import require_POST

from chat import usecases
from chat.exceptions import ChatError, InvalidInput
from chat.http import chat_error_response, json_body
from chat.identity import client_ip, owner_from_request
from chat.validation import aparse_message, parse_language, parse_page, parse_timezone

HEARTBEAT_SECONDS = 15.0
_END = object()


@require_POST
async def stream(request):
    """Ask (`message`), or answer the last question again (`"regenerate": true`), over SSE."""
    try:
        body = json_body(request, max_bytes=settings.CHAT_MAX_FRAME_BYTES)
        visit = await _visit(request, body)
        if body.get("regenerate") is True:
            if not body.get("session"):
                raise InvalidInput("`regenerate` needs the `session` to answer again.")
            session = await usecases.conversation_open(visit, body["session"])
            first: list[dict] = []
            events = await usecases.regenerate(visit=visit, session=session)
        else:
            incoming = await aparse_message(body.get("message"))
            session = None
            if body.get("session"):  # a new conversation is opened only if the question passes
                session = await usecases.conversation_open(visit, body["session"])
            asked = await usecases.ask(visit=visit, session=session, incoming=incoming)
            session, first, events = asked.session, [asked.ack], asked.events
        ready = await usecases.conversation_ready(visit, session)
    except ChatError as exc:
        return chat_error_response(exc)
    await sync_to_async(request.session.save)()  # a script's first call: keep its visitor key
    response = StreamingHttpResponse(
        _event_stream([ready, *first], events), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response


async def _visit(request, body: dict) -> usecases.Visit:
    owner = await sync_to_async(owner_from_request)(request)
    return usecases.Visit(
        owner=owner,
        asker=await usecases.aasker_for(owner),
        page=parse_page(body.get("page")).as_dict(),
        tz=parse_timezone(body.get("timezone")),
        language=parse_language(body.get("language")),
        ip=client_ip(getattr(request, "scope", None)),
    )


async def _event_stream(first: list[dict], events: AsyncIterator[dict]) -> AsyncIterator[str]:
    for event in first:
        yield _frame(event)
    queue: asyncio.Queue = asyncio.Queue()
    pump = asyncio.create_task(_pump(events, queue))
    try:
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_SECONDS)
            except TimeoutError:
                yield ": ping\n\n"
                continue
            if event is _END:
                return
            yield _frame(event)
            if event["type"] == "done":
                return
    finally:
        pump.cancel()  # the client left: stop relaying (the reply itself goes on)


async def _pump(events: AsyncIterator[dict], queue: asyncio.Queue) -> None:
    try:
        async for event in events:
            await queue.put(event)
    finally:
        await queue.put(_END)


def _frame(event: dict) -> str:
    return f"data: {json.dumps(event)}\n\n"
