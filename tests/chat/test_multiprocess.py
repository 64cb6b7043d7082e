"""Two real daphne processes sharing one database and one real Redis.

What the production column of DESIGN.md promises: a reconnect that lands on another process
resumes the reply exactly, a stop reaches the process generating, and the rate limit is one
budget across processes.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid
from http.cookiejar import CookieJar

import pytest
import websockets

from tests.live import LiveServer, migrate_db
from tests.services import require_redis

pytestmark = [pytest.mark.services, pytest.mark.slow]

TEXT = " ".join(
    ["Resumable streams keep every token of a reply until the client has them all."] * 3
)


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory):
    redis_url = require_redis().rsplit("/", 1)[0] + "/3"
    db_path = tmp_path_factory.mktemp("multiprocess") / "db.sqlite3"
    env = {
        "REDIS_URL": redis_url,
        "SCRIPTED_TOKEN_DELAY": "0.03",
        "CHAT_RATE_LIMIT": "10/minute",
        "CHAT_RATE_LIMIT_IP": "",
        "CHAT_CACHE_TTL": "0",
        "KNOWLEDGE_DENSE_SEARCH": "false",  # no embedding model to load in each process
    }
    migrate_db(db_path, env=env)
    servers = [LiveServer(db_path=db_path, env=env), LiveServer(db_path=db_path, env=env)]
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


def visitor_cookie(server: LiveServer) -> str:
    """A page view gives a visitor their session cookie, as in a browser."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{server.url}/", timeout=10).read()
    return next(f"{c.name}={c.value}" for c in jar if c.name == "sessionid")


class Socket:
    def __init__(self, ws) -> None:
        self.ws = ws
        self.session: str | None = None  # from `ready`, or the `ack` of the first question

    @classmethod
    async def open(cls, server: LiveServer, cookie: str) -> Socket:
        ws = await websockets.connect(
            server.ws_url, origin=server.url, additional_headers={"Cookie": cookie}, open_timeout=30
        )
        return cls(ws)

    async def send(self, frame: dict) -> None:
        await self.ws.send(json.dumps(frame))

    async def receive(self, timeout: float = 15) -> dict:
        event = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        if event["type"] in ("ready", "ack") and event.get("session"):
            self.session = event["session"]
        return event

    async def until(self, type_: str) -> list[dict]:
        events = []
        while True:
            events.append(await self.receive())
            if events[-1]["type"] == type_:
                return events

    async def hello(self, session=None, resume=None) -> dict:
        frame = {"type": "hello", "session": session, "page": {"url": "/", "title": "Home"}}
        if resume:
            frame["resume"] = resume
        await self.send(frame)
        return await self.receive()

    async def close(self) -> None:
        await self.ws.close()


async def test_a_reconnect_on_the_other_process_resumes_exactly(two_servers):
    first, second = two_servers
    cookie = visitor_cookie(first)
    on_first = await Socket.open(first, cookie)
    await on_first.hello()
    await on_first.send({"type": "message", "id": str(uuid.uuid4()), "text": f"say: {TEXT}"})
    received = [await on_first.receive() for _ in range(2 + 5)]  # ack, start, 5 tokens
    tokens = [e for e in received if e["type"] == "token"]
    reply_id = received[1]["message"]
    await on_first.close()

    on_second = await Socket.open(second, cookie)
    resumed = await on_second.hello(
        session=on_first.session, resume={"message": reply_id, "seq": tokens[-1]["seq"]}
    )
    assert resumed["type"] == "ready"
    assert resumed["history"][-1]["status"] == "streaming"  # still generating on the first
    rest = await on_second.until("done")
    more = [e for e in rest if e["type"] == "token"]
    seqs = [t["seq"] for t in tokens + more]
    assert seqs == list(range(len(seqs)))  # nothing lost, nothing repeated
    assert "".join(t["text"] for t in tokens + more) == TEXT
    assert rest[-1]["status"] == "complete"
    await on_second.close()


async def test_a_stop_sent_to_the_other_process_stops_the_reply(two_servers):
    first, second = two_servers
    cookie = visitor_cookie(first)
    on_first = await Socket.open(first, cookie)
    await on_first.hello()
    await on_first.send({"type": "message", "id": str(uuid.uuid4()), "text": f"say: {TEXT}"})
    started = [await on_first.receive() for _ in range(3)]
    on_second = await Socket.open(second, cookie)
    await on_second.hello(session=on_first.session)
    await on_second.send({"type": "stop"})
    done = (await on_first.until("done"))[-1]
    assert done["status"] == "stopped"
    assert (await on_second.until("done"))[-1]["status"] == "stopped"
    reader = await Socket.open(second, cookie)
    reply = (await reader.hello(session=on_first.session))["history"][-1]
    await reader.close()
    assert reply["id"] == started[1]["message"] and reply["status"] == "stopped"
    assert 0 < len(reply["text"]) < len(TEXT)
    await on_first.close()
    await on_second.close()


async def burst(servers, cookie: str, count: int) -> list[dict]:
    """`count` sockets, alternately on each process, each sending one message at once."""
    sockets = [await Socket.open(servers[i % 2], cookie) for i in range(count)]
    for socket in sockets:
        await socket.hello()
    await asyncio.gather(
        *(s.send({"type": "message", "id": str(uuid.uuid4()), "text": "say: ok"}) for s in sockets)
    )
    firsts = [await s.receive() for s in sockets]
    for socket in sockets:
        await socket.close()
    return firsts


async def test_a_burst_of_50_across_both_processes_gets_exactly_the_limit_through(two_servers):
    cookie = visitor_cookie(two_servers[0])
    firsts = await burst(two_servers, cookie, 50)
    accepted = [e for e in firsts if e["type"] == "ack"]
    refused = [e for e in firsts if e["type"] == "error"]
    assert len(accepted) == 10
    assert len(refused) == 40 and {e["code"] for e in refused} == {"rate_limited"}
    assert all(e["retry_after"] > 0 for e in refused)


async def test_two_visitors_have_their_own_budgets_across_processes(two_servers):
    for _visitor in range(2):
        cookie = visitor_cookie(two_servers[1])
        firsts = await burst(two_servers, cookie, 12)
        assert sum(e["type"] == "ack" for e in firsts) == 10
