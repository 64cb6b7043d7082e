"""The live chat WebSocket, `/ws/chat/`, speaking PROTOCOL.md.

Thin on purpose: parse a frame, call a service, relay a reply's events. Channels runs handlers
one at a time, so a reply is generated in its own task (chat.reply.lifecycle) and relayed by another
(`_follow`): a `stop` frame is handled while a reply streams. Closing the socket cancels only the
relay; the reply goes on, is stored, and a reconnect can resume it.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import structlog
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from chat import selectors, services
from chat import usecases as asking
from chat.live import streams
from chat.exceptions import ChatError, InvalidInput, NotFound, TooLarge
from chat.identity import Owner, client_ip, visitor_key_for
from chat.models import ChatMessage, ChatSession
from chat.guards.quotas import usage_snapshot
from chat.reply.universes import universe_list
from chat.validation import parse_message, parse_page

log = structlog.get_logger(__name__)


class ChatConsumer(AsyncWebsocketConsumer):
    # Reply events travel through chat.live.streams, not the channel layer: no socket needs a
    # channel of its own (with Redis, that would be a blocking connection per socket).
    channel_layer_alias = None

    async def connect(self) -> None:
        self.owner: Owner = await database_sync_to_async(_owner_from_scope)(self.scope)
        self.session: ChatSession | None = None
        self.page: dict = {}
        self.tz: str | None = None
        self.follower: asyncio.Task | None = None
        self.client_ip: str | None = client_ip(self.scope)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.follower is not None:
            self.follower.cancel()

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
            await self.send_error(exc)
        except Exception:  # noqa: BLE001 - a bug must not close the socket or show a traceback
            log.exception("frame_failed")
            await self.send_error(
                ChatError("Something went wrong on our side. Please try again in a moment.")
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

    # --- client frames ---------------------------------------------------------------------------
    async def on_hello(self, frame: dict) -> None:
        self.page = parse_page(frame.get("page")).as_dict()
        tz = frame.get("timezone")
        self.tz = tz if isinstance(tz, str) else None
        self.session = await database_sync_to_async(asking.session_for)(
            self.owner, frame.get("session")
        )
        structlog.contextvars.bind_contextvars(session_id=str(self.session.id))
        history = await database_sync_to_async(asking.history_of)(self.session)
        await self.send_json(
            {
                "type": "ready",
                "session": str(self.session.id),
                "history": history,
                "universes": [u.as_dict() for u in universe_list()],
                "usage": await usage_snapshot(owner=self.owner, tz=self.tz),
            }
        )
        await self._resume(frame.get("resume"), history)

    async def on_message(self, frame: dict) -> None:
        # Decoding and verifying an image takes CPU: not on the event loop.
        incoming = await sync_to_async(parse_message, thread_sensitive=False)(frame)
        asked = await asking.ask(
            session=self.session,
            owner=self.owner,
            incoming=incoming,
            page=self.page,
            tz=self.tz,
            ip=self.client_ip,
        )
        await self.send_json(asked.ack)
        self._follow(asked.events)

    async def on_stop(self, frame: dict) -> None:
        reply = await database_sync_to_async(selectors.message_streaming)(session=self.session)
        if reply is None or not await streams.stream_request_stop(str(reply.id)):
            raise InvalidInput("There is no reply being written to stop.")

    async def on_regenerate(self, frame: dict) -> None:
        events = await asking.regenerate(
            session=self.session, owner=self.owner, page=self.page, tz=self.tz, ip=self.client_ip
        )
        self._follow(events)

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

    # --- relaying replies ------------------------------------------------------------------------
    async def _resume(self, resume, history: list[dict]) -> None:
        """After `ready`: replay what the client missed of a reply, then follow it live."""
        if isinstance(resume, dict) and resume.get("message"):
            seq = resume.get("seq")
            after = seq if isinstance(seq, int) and not isinstance(seq, bool) else -1
            reply = await database_sync_to_async(_reply_in)(self.session, resume["message"])
            self._follow(await asking.reply_events(reply, after_seq=after))
        elif history and history[-1]["status"] == ChatMessage.Status.STREAMING:
            # A new page while a reply streams: follow it from its first token.
            reply = await database_sync_to_async(_reply_in)(self.session, history[-1]["id"])
            self._follow(await asking.reply_events(reply, after_seq=None))

    def _follow(self, events) -> None:
        if self.follower is not None and not self.follower.done():
            self.follower.cancel()
        self.follower = asyncio.create_task(self._relay(events))

    async def _relay(self, events) -> None:
        done = False
        try:
            async for event in events:
                await self.send_json(event)
                done = done or event["type"] == "done"
        except Exception:  # noqa: BLE001 - tell the client rather than go quiet
            log.exception("relay_failed")
        if not done:
            await self.send_error(
                ChatError("The rest of this reply could not be delivered. Reload to see it.")
            )

    async def send_json(self, content: dict) -> None:
        await self.send(text_data=json.dumps(content))

    async def send_error(self, exc: ChatError) -> None:
        event = {"type": "error", "code": exc.code, "message": exc.message}
        if exc.retry_after is not None:
            event["retry_after"] = exc.retry_after
        if exc.reply_to is not None:
            event["reply_to"] = exc.reply_to
        await self.send_json(event)


def _owner_from_scope(scope) -> Owner:
    user = scope.get("user")
    user_id = user.pk if user is not None and user.is_authenticated else None
    session = scope.get("session")
    if session is not None and session.session_key:
        # A known browser whose page view did not set a key (a cached page): set it now.
        key = visitor_key_for(session)
        if session.modified:
            session.save()
        return Owner(user_id=user_id, visitor_key=key)
    # No session cookie (a script, or cookies blocked): a visitor for this connection only.
    return Owner(user_id=user_id, visitor_key=f"ephemeral-{uuid.uuid4().hex}")


def _reply_in(session: ChatSession, message_id) -> ChatMessage:
    reply = selectors.message_in_session(session=session, message_id=message_id)
    if reply is None or reply.role != ChatMessage.Role.ASSISTANT:
        raise NotFound("That reply is not part of this conversation.")
    return reply
