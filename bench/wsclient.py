"""A new visitor's WebSocket to the whole ASGI application, for the benchmarks that measure the
real protocol (bench/consumer_ttft.py, bench/grounding_eval.py).

In process, through channels' test client: no server, no port, and nothing between the
benchmark and the consumer but the ASGI stack itself (origin check, session, routing). Django
is imported only when a socket opens, so a benchmark can read `UNLIMITED_ENV` before it sets
Django up.
"""

from __future__ import annotations

import json
import uuid

# What a benchmark's visitor must not run into, as environment for the settings: rate limits,
# daily quotas and the response cache (a cached answer measures no model).
UNLIMITED_ENV = {
    "CHAT_RATE_LIMIT": "",
    "CHAT_RATE_LIMIT_IP": "",
    "CHAT_QUOTA_ANON_MESSAGES": "0",
    "CHAT_QUOTA_ANON_INPUT_TOKENS": "0",
    "CHAT_QUOTA_ANON_OUTPUT_TOKENS": "0",
    "CHAT_CACHE_TTL": "0",
}


async def visitor_connect(*, timeout: float):
    """Open a socket as a new anonymous visitor (a session of its own), say `hello` and read
    the answer; return the socket (a WebsocketCommunicator), ready for `message` frames. The
    caller disconnects it. `timeout` (seconds) bounds the handshake and the answer to `hello`."""
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator

    from config.asgi import application

    key = await database_sync_to_async(_visitor_session)()
    ws = WebsocketCommunicator(
        application,
        "/ws/chat/",
        headers=[
            (b"host", b"testserver"),
            (b"origin", b"http://testserver"),
            (b"cookie", f"sessionid={key}".encode()),
        ],
    )
    connected, _ = await ws.connect(timeout=timeout)
    if not connected:
        raise RuntimeError("the WebSocket handshake was refused")
    await ws.send_to(text_data=json.dumps({"type": "hello", "session": None, "page": {}}))
    await ws.receive_from(timeout=timeout)
    return ws


def _visitor_session() -> str:
    """A new session that carries a visitor id, as the widget's first page view makes one."""
    from django.contrib.sessions.backends.db import SessionStore

    from chat.identity import VISITOR_SESSION_KEY

    store = SessionStore()
    store[VISITOR_SESSION_KEY] = uuid.uuid4().hex
    store.create()
    return store.session_key
