"""The live chat WebSocket, `/ws/chat/`, speaking PROTOCOL.md.

Thin on purpose: parse a frame, call the use-case layer (chat.usecases), relay events built by
chat.events. Channels runs handlers one at a time, so a reply is generated in its own task
(chat.reply.lifecycle) and relayed by another (`_follow`): a `stop` frame is handled while a reply
streams. Closing the socket cancels only the relay; the reply goes on, is stored, and a reconnect
can resume it.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import structlog
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from chat import events, usecases
from chat.exceptions import ChatError, InvalidInput, TooLarge
from chat.guards.sockets import POLICY_VIOLATION, FrameBudget, SendBudget
from chat.identity import Owner, client_ip, visitor_key_for
from chat.signals import request_refused, send_now, socket_changed
from chat.validation import (
    aparse_message,
    loads_json,
    parse_language,
    parse_page,
    parse_timezone,
)

log = structlog.get_logger(__name__)

NEEDS_CONVERSATION = frozenset({"stop", "regenerate", "rate"})


def ready_id(session) -> str:
    return str(session.id) if session is not None else ""


class ChatConsumer(AsyncWebsocketConsumer):
    # Reply events travel through chat.live.streams, not the channel layer: no socket needs a
    # channel of its own (with Redis, that would be a blocking connection per socket).
    channel_layer_alias = None

    async def connect(self) -> None:
        owner = await database_sync_to_async(_owner_from_scope)(self.scope)
        self.visit = usecases.Visit(
            owner=owner, asker=await usecases.aasker_for(owner), page={}, ip=client_ip(self.scope)
        )
        self.session = None  # stored with the first question, not by `hello`
        self.greeted = False
        self.follower: asyncio.Task | None = None
        self.frames = FrameBudget(
            rate=settings.CHAT_SOCKET_FRAMES_PER_SECOND, burst=settings.CHAT_SOCKET_FRAME_BURST
        )
        self.sent = SendBudget(limit=settings.CHAT_SOCKET_SEND_BYTES_PER_MINUTE)
        self.closing = False
        await self.accept()
        send_now(socket_changed, delta=1)

    async def disconnect(self, code: int) -> None:
        send_now(socket_changed, delta=-1)
        if self.follower is not None:
            self.follower.cancel()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        if not self.frames.take():
            await self._close_for(
                "Too many frames on this connection: it is closed. Reload the page to reconnect.",
                code="rate_limited",
            )
            return
        try:
            frame = self._parse(text_data, bytes_data)
            handler = getattr(self, f"on_{frame['type']}", None)
            if handler is None:
                raise InvalidInput(f"Unknown frame type {frame['type']!r}.")
            if frame["type"] != "hello" and not self.greeted:
                raise InvalidInput("Send `hello` first to open a conversation.")
            if frame["type"] in NEEDS_CONVERSATION and self.session is None:
                raise InvalidInput("There is no conversation yet: ask a question first.")
            await handler(frame)
        except ChatError as exc:
            send_now(request_refused, code=exc.code)
            await self.send_json(events.error_from(exc))
        except Exception:  # noqa: BLE001 - a bug must not close the socket or show a traceback
            log.exception("frame_failed")
            await self.send_json(
                events.error_from(
                    ChatError("Something went wrong on our side. Please try again in a moment.")
                )
            )

    def _parse(self, text_data, bytes_data) -> dict:
        raw = text_data if text_data is not None else (bytes_data or b"")
        if len(raw) > settings.CHAT_MAX_FRAME_BYTES:
            raise TooLarge(f"The frame is over {settings.CHAT_MAX_FRAME_BYTES} bytes.")
        frame = loads_json(raw)
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            raise InvalidInput("Each frame must be a JSON object with a string `type`.")
        return frame

    # --- client frames ---------------------------------------------------------------------------
    async def on_hello(self, frame: dict) -> None:
        self._unfollow()  # a second hello: the old conversation's reply must not leak into it
        self.visit = usecases.Visit(
            owner=self.visit.owner,
            asker=self.visit.asker,
            ip=self.visit.ip,
            page=parse_page(frame.get("page")).as_dict(),
            tz=parse_timezone(frame.get("timezone")),
            language=parse_language(frame.get("language")),
        )
        self.session = await usecases.conversation_open(self.visit, frame.get("session"))
        self.greeted = True
        structlog.contextvars.bind_contextvars(session_id=ready_id(self.session))
        ready = await usecases.conversation_ready(self.visit, self.session)
        await self.send_json(ready)
        if self.session is None:
            return
        following = await usecases.resume(
            visit=self.visit,
            session=self.session,
            resume_from=frame.get("resume"),
            history=ready["history"],
        )
        if following is not None:
            self._follow(following)

    async def on_message(self, frame: dict) -> None:
        incoming = await aparse_message(frame)
        asked = await usecases.ask(visit=self.visit, session=self.session, incoming=incoming)
        if self.session is None:
            self.session = asked.session
            structlog.contextvars.bind_contextvars(session_id=str(asked.session.id))
        await self.send_json(asked.ack)
        self._follow(asked.events)

    async def on_stop(self, frame: dict) -> None:
        await usecases.stop(session=self.session)

    async def on_regenerate(self, frame: dict) -> None:
        self._follow(await usecases.regenerate(visit=self.visit, session=self.session))

    async def on_rate(self, frame: dict) -> None:
        await usecases.rate(
            visit=self.visit,
            session=self.session,
            score=frame.get("score"),
            comment=frame.get("comment"),
        )

    async def on_ping(self, frame: dict) -> None:
        await self.send_json(events.pong())

    # --- relaying replies ------------------------------------------------------------------------
    def _follow(self, reply_events) -> None:
        self._unfollow()
        self.follower = asyncio.create_task(self._relay(reply_events))

    def _unfollow(self) -> None:
        if self.follower is not None and not self.follower.done():
            self.follower.cancel()

    async def _relay(self, reply_events) -> None:
        done = False
        try:
            async for event in reply_events:
                await self.send_json(event)
                done = done or event["type"] == "done"
        except Exception:  # noqa: BLE001 - tell the client rather than go quiet
            log.exception("relay_failed")
        if not done:
            await self.send_json(
                events.error_from(
                    ChatError("The rest of this reply could not be delivered. Reload to see it.")
                )
            )

    async def send_json(self, content: dict) -> None:
        if self.closing:
            return
        text = json.dumps(content)
        if not self.sent.spend(len(text)):
            await self._close_for(
                "This connection fell too far behind reading what it asked "
                "for: it is closed. Reload the page to reconnect.",
                code="too_large",
            )
            return
        await self.send(text_data=text)

    async def _close_for(self, message: str, *, code: str) -> None:
        """Tell the client why (a last error event), then close with 1008 (policy)."""
        self.closing = True
        self._unfollow()
        send_now(request_refused, code=code)
        log.warning("socket_closed_for_abuse", reason=code)
        await self.send(text_data=json.dumps(events.error(code=code, message=message)))
        await self.close(code=POLICY_VIOLATION)


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
