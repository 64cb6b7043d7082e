"""The live chat WebSocket, `/ws/chat/`, speaking PROTOCOL.md.

Thin on purpose: parse a frame, call a service or start a reply, relay the reply's stream.
Handlers run one at a time, so generation runs in its own task (chat.replies) and the relay in
another (`_follow`); a `stop` frame is handled while a reply streams. Closing the socket cancels
only the relay: the reply goes on and is stored, and a reconnect can resume it.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import structlog
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from chat import replies, selectors, services, streams
from chat.exceptions import ChatError, Forbidden, InvalidInput, NotFound, TooLarge
from chat.identity import VISITOR_SESSION_KEY, Owner
from chat.models import ChatMessage, ChatSession
from chat.redis_pool import redis_available, redis_configured
from chat.universes import universe_get, universe_list
from chat.usage import usage_for
from chat.validation import image_file, parse_message, parse_page

log = structlog.get_logger(__name__)

HISTORY_LIMIT = 50


class ChatConsumer(AsyncWebsocketConsumer):
    owner: Owner
    session: ChatSession | None = None

    async def connect(self) -> None:
        self.owner = await database_sync_to_async(_owner_from_scope)(self.scope)
        self.session = None
        self.page: dict = {}
        self.tz: str | None = None
        self.follower: asyncio.Task | None = None
        self.client_ip = (self.scope.get("client") or ("", 0))[0]
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.follower is not None:
            self.follower.cancel()

    # --- frames ----------------------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            frame = self._parse(text_data, bytes_data)
            handler = getattr(self, f"on_{frame['type']}", None)
            if handler is None:
                raise InvalidInput(f"Unknown frame type {frame['type']!r}.")
            if frame["type"] != "hello" and self.session is None:
                raise InvalidInput("Send `hello` first to open a conversation.")
            await handler(frame)
        except ChatError as exc:
            await self.send_error(
                exc.code, exc.message, retry_after=exc.retry_after, reply_to=exc.reply_to
            )

    def _parse(self, text_data, bytes_data) -> dict:
        raw = text_data if text_data is not None else (bytes_data or b"")
        if len(raw) > settings.CHAT_MAX_FRAME_BYTES:
            raise TooLarge(f"The frame is over {settings.CHAT_MAX_FRAME_BYTES} bytes.")
        try:
            frame = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InvalidInput("The frame is not valid JSON.") from None
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            raise InvalidInput("Each frame must be a JSON object with a string `type`.")
        return frame

    async def on_hello(self, frame: dict) -> None:
        self.page = parse_page(frame.get("page")).as_dict()
        self.tz = frame.get("timezone") if isinstance(frame.get("timezone"), str) else None
        session_id = frame.get("session")
        self.session = await database_sync_to_async(_open_session)(self.owner, session_id)
        history = await database_sync_to_async(_history)(self.session)
        await self.send_json(
            {
                "type": "ready",
                "session": str(self.session.id),
                "history": history,
                "universes": [u.as_dict() for u in universe_list()],
                "usage": await self.usage(),
            }
        )
        await self._resume(frame.get("resume"), history)

    async def on_message(self, frame: dict) -> None:
        incoming = parse_message(frame)
        universe_get(incoming.universe)  # unknown universe: `invalid`, nothing stored
        try:
            exchange = await database_sync_to_async(_begin)(self.session, incoming)
        except ChatError as exc:
            exc.reply_to = incoming.client_id
            raise
        await self.send_json(
            {"type": "ack", "id": incoming.client_id, "message": str(exchange.question.id)}
        )
        if not exchange.created:
            await self._follow_existing(exchange.reply, after_seq=None)
            return
        stream = replies.reply_start(
            replies.ReplyRequest(
                session_id=str(self.session.id),
                reply_id=str(exchange.reply.id),
                question_id=str(exchange.question.id),
                reply_to=incoming.client_id,
                owner=self.owner,
                page=self.page,
                universe=incoming.universe,
                context=incoming.context,
                tz=self.tz,
            )
        )
        self._follow(stream.subscribe())

    async def on_stop(self, frame: dict) -> None:
        reply = await database_sync_to_async(_streaming_reply)(self.session)
        if reply is None or not await streams.stream_request_stop(str(reply.id)):
            raise InvalidInput("There is no reply being written to stop.")

    async def on_regenerate(self, frame: dict) -> None:
        exchange = await database_sync_to_async(services.reply_regenerate)(session=self.session)
        stream = replies.reply_start(
            replies.ReplyRequest(
                session_id=str(self.session.id),
                reply_id=str(exchange.reply.id),
                question_id=str(exchange.question.id),
                reply_to=exchange.question.client_id or "",
                owner=self.owner,
                page=self.page,
                tz=self.tz,
            )
        )
        self._follow(stream.subscribe())

    async def on_rate(self, frame: dict) -> None:
        score = frame.get("score")
        if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
            raise InvalidInput("`score` must be a whole number from 1 to 5.")
        comment = frame.get("comment") or ""
        if not isinstance(comment, str):
            raise InvalidInput("`comment` must be text.")
        await database_sync_to_async(services.session_rate)(
            session=self.session, score=score, comment=comment
        )

    async def on_ping(self, frame: dict) -> None:
        await self.send_json({"type": "pong"})

    # --- relaying a reply ------------------------------------------------------------------------
    async def _resume(self, resume, history: list[dict]) -> None:
        """After `ready`: replay what the client missed of a reply, then follow it live."""
        if isinstance(resume, dict) and resume.get("message"):
            seq = resume.get("seq")
            after = seq if isinstance(seq, int) and not isinstance(seq, bool) else -1
            reply = await database_sync_to_async(_reply_in_session)(self.session, resume["message"])
            await self._follow_existing(reply, after_seq=after)
            return
        # A new page while a reply streams: follow it from its first token.
        if history and history[-1]["status"] == ChatMessage.Status.STREAMING:
            reply = await database_sync_to_async(_reply_in_session)(self.session, history[-1]["id"])
            await self._follow_existing(reply, after_seq=None)

    async def _follow_existing(self, reply: ChatMessage, *, after_seq: int | None) -> None:
        """Relay a reply's stream if any process still has it, else its stored outcome."""
        events = await streams.stream_subscribe(str(reply.id), after_seq=after_seq)
        if events is not None:
            self._follow(events)
            return
        if redis_configured() and not redis_available():
            return  # it may still be running on another process: leave it alone
        reply = await database_sync_to_async(_reap_if_orphaned)(reply)
        for event in replies.stored_reply_events(reply, after_seq=after_seq):
            await self.send_json(event)

    def _follow(self, events) -> None:
        if self.follower is not None and not self.follower.done():
            self.follower.cancel()
        self.follower = asyncio.create_task(self._relay(events))

    async def _relay(self, events) -> None:
        async for event in events:
            await self.send_json(event)
            if event["type"] == "done":
                await self.send_json({"type": "usage", **await self.usage()})

    # --- helpers ---------------------------------------------------------------------------------
    async def usage(self) -> dict:
        return await usage_for(owner=self.owner, tz=self.tz)

    async def send_json(self, content: dict) -> None:
        await self.send(text_data=json.dumps(content))

    async def send_error(self, code, message, *, retry_after=None, reply_to=None) -> None:
        event = {"type": "error", "code": code, "message": message}
        if retry_after is not None:
            event["retry_after"] = retry_after
        if reply_to is not None:
            event["reply_to"] = reply_to
        await self.send_json(event)


def _owner_from_scope(scope) -> Owner:
    user = scope.get("user")
    user_id = user.pk if user is not None and user.is_authenticated else None
    session = scope.get("session")
    key = session.get(VISITOR_SESSION_KEY) if session is not None else None
    # No cookie (a script, or cookies blocked): a visitor for this connection only.
    return Owner(user_id=user_id, visitor_key=key or f"ephemeral-{uuid.uuid4().hex}")


def _open_session(owner: Owner, session_id) -> ChatSession:
    if session_id is None:
        return services.session_create(owner=owner, provider=settings.CHAT_PROVIDER,
                                       model=settings.CHAT_MODEL,
                                       generation_options=settings.CHAT_GENERATION)  # fmt: skip
    try:
        return selectors.session_get(owner=owner, session_id=session_id)
    except NotFound:
        if ChatSession.objects.filter(id=_uuid_or_none(session_id)).exists():
            raise Forbidden("That conversation belongs to someone else.") from None
        raise


def _uuid_or_none(value):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _history(session: ChatSession) -> list[dict]:
    return [selectors.message_serialize(m) for m in selectors.message_history(session=session,
                                                                                limit=HISTORY_LIMIT)]


def _begin(session: ChatSession, incoming) -> services.Exchange:
    image = image_file(incoming.image) if incoming.image else None
    return services.exchange_begin(
        session=session,
        client_id=incoming.client_id,
        text=incoming.text,
        image=image,
        provider=settings.CHAT_PROVIDER,
        model=settings.CHAT_MODEL,
        metadata={"universe": incoming.universe} if incoming.universe else None,
    )


def _streaming_reply(session: ChatSession) -> ChatMessage | None:
    return session.messages.filter(status=ChatMessage.Status.STREAMING).last()


def _reply_in_session(session: ChatSession, message_id) -> ChatMessage:
    reply = session.messages.filter(id=_uuid_or_none(message_id), role="assistant").first()
    if reply is None:
        raise NotFound("That reply is not part of this conversation.")
    return reply


def _reap_if_orphaned(reply: ChatMessage) -> ChatMessage:
    """A reply still `streaming` with no stream anywhere was cut off by a server restart."""
    reply.refresh_from_db()
    if reply.status == ChatMessage.Status.STREAMING:
        try:
            return services.message_finish(
                message_id=reply.id,
                status=ChatMessage.Status.INTERRUPTED,
                text=reply.text,
                error_code="internal",
                error="The server restarted while this reply was being written. Press retry.",
            )
        except services.InvalidTransition:
            reply.refresh_from_db()
    return reply
