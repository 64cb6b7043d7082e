"""Fixtures for talking to the real ASGI application over a WebSocket."""

from __future__ import annotations

import json
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from chat.identity import VISITOR_SESSION_KEY
from tests.chat.fakes import FakeProvider

ORIGIN = b"http://testserver"


@pytest.fixture
def one_frame_per_piece(settings):
    """Each piece of a reply its own `token` frame (CHAT_STREAM_FRAME_MS=0): for tests of what
    a resume sends, piece by piece."""
    settings.CHAT_STREAM_FRAME_MS = 0


@pytest.fixture
def fake_provider(settings):
    settings.CHAT_PROVIDERS = {**settings.CHAT_PROVIDERS, "fake": "tests.chat.fakes.FakeProvider"}
    settings.CHAT_PROVIDER = "fake"
    settings.CHAT_MODEL = "fake-model"
    settings.CHAT_RETRIEVER = ""
    FakeProvider.reset()
    yield FakeProvider
    FakeProvider.reset()


def _session_cookie(*, visitor_key: str, user=None) -> str:
    store = SessionStore()
    store[VISITOR_SESSION_KEY] = visitor_key
    if user is not None:
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key


class Client:
    """A WebSocket client speaking PROTOCOL.md to the real application."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.ws = communicator
        self.session: str | None = None  # from `ready`, or from the `ack` of the first question

    async def send(self, frame: dict | str) -> None:
        await self.ws.send_to(text_data=frame if isinstance(frame, str) else json.dumps(frame))

    async def receive(self, timeout: float = 5) -> dict:
        event = json.loads(await self.ws.receive_from(timeout=timeout))
        if event["type"] in ("ready", "ack") and event.get("session"):
            self.session = event["session"]
        return event

    async def receive_until(self, type_: str, timeout: float = 10) -> list[dict]:
        """Receive events up to and including the first of `type_`."""
        events = []
        while True:
            event = await self.receive(timeout)
            events.append(event)
            if event["type"] == type_:
                return events

    async def hello(self, session=None, **extra) -> dict:
        await self.send({"type": "hello", "session": session, "page": {"url": "/", "title": "Home"},
                         **extra})  # fmt: skip
        ready = await self.receive()
        assert ready["type"] == "ready", ready
        return ready

    async def ask(self, text: str, client_id: str | None = None, **extra) -> str:
        client_id = client_id or str(uuid.uuid4())
        await self.send({"type": "message", "id": client_id, "text": text, **extra})
        return client_id

    async def nothing_more(self, timeout: float = 0.2) -> bool:
        return await self.ws.receive_nothing(timeout=timeout)

    async def close(self) -> None:
        await self.ws.disconnect()


@pytest.fixture
async def connect():
    """`await connect(visitor_key=..., user=...)` -> a connected Client; all closed at the end."""
    from config.asgi import application

    clients: list[Client] = []

    async def _connect(*, visitor_key="visitor-a", user=None, origin=ORIGIN, cookie=True):
        headers = [(b"host", b"testserver")] + ([(b"origin", origin)] if origin else [])
        if cookie:
            key = await database_sync_to_async(_session_cookie)(visitor_key=visitor_key, user=user)
            headers.append((b"cookie", f"sessionid={key}".encode()))
        communicator = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
        connected, _ = await communicator.connect()
        client = Client(communicator)
        client.connected = connected
        clients.append(client)
        return client

    yield _connect
    from chat.reply.lifecycle import replies_wait_idle
    from chat.signals import signals_wait_idle

    await replies_wait_idle()
    await signals_wait_idle()  # listeners' writes end before the database is flushed
    for client in clients:
        await client.close()
