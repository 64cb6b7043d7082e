"""A process killed mid-reply: its visitor, resumed on another process, finds the text it was
shown in the stored reply (interrupted; all of it but at most the dead process's last 50 ms
batch, which never reached Redis), gets a clear error, and a retry works."""

from __future__ import annotations

import uuid

import pytest

from tests.chat.test_multiprocess import TEXT, Socket, visitor_cookie
from tests.live import LiveServer, migrate_db
from tests.services import require_redis

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture
def servers(tmp_path):
    redis_url = require_redis().rsplit("/", 1)[0] + "/4"
    db_path = tmp_path / "db.sqlite3"
    env = {
        "REDIS_URL": redis_url,
        "SCRIPTED_TOKEN_DELAY": "0.05",
        "CHAT_CACHE_TTL": "0",
        "CHAT_RATE_LIMIT_IP": "",
        "KNOWLEDGE_DENSE_SEARCH": "false",
        "REDIS_SOCKET_TIMEOUT": "3",
    }  # a loaded CI machine is not a Redis outage
    migrate_db(db_path, env=env)
    pair = [LiveServer(db_path=db_path, env=env), LiveServer(db_path=db_path, env=env)]
    for server in pair:
        server.start()
    yield pair
    for server in pair:
        server.stop()


async def test_a_killed_process_leaves_the_shown_text_stored_and_a_retry_works(servers):
    doomed, survivor = servers
    cookie = visitor_cookie(doomed)
    on_doomed = await Socket.open(doomed, cookie)
    await on_doomed.hello()
    await on_doomed.send({"type": "message", "id": str(uuid.uuid4()), "text": f"say: {TEXT}"})
    received = [await on_doomed.receive() for _ in range(2 + 8)]  # ack, start, 8 tokens
    session = received[0]["session"]
    reply_id = received[1]["message"]
    shown = "".join(e["text"] for e in received if e["type"] == "token")
    doomed.process.kill()  # no goodbye: SIGKILL mid-reply
    doomed.process.wait()

    on_survivor = await Socket.open(survivor, cookie)
    last_seq = [e for e in received if e["type"] == "token"][-1]["seq"]
    await on_survivor.hello(session=session, resume={"message": reply_id, "seq": last_seq})
    rest = []  # the dead process's stream expires ALIVE_TTL (15 s) after its last copy
    while not rest or rest[-1]["type"] != "done":
        rest.append(await on_survivor.receive(timeout=40))
    more = "".join(e["text"] for e in rest if e["type"] == "token")
    error = next(e for e in rest if e["type"] == "error")
    assert rest[-1]["status"] == "interrupted"
    assert "Press retry" in error["message"]
    history = (await on_survivor.hello(session=session))["history"]
    stored = history[-1]
    assert stored["status"] == "interrupted"
    # Kept: every token the dead process had copied to Redis (it copies every 50 ms), which is
    # all it showed but for at most its last batch. Before, the stored text was empty.
    assert len(stored["text"]) > 0 and (shown + more).startswith(stored["text"])
    assert len(stored["text"]) >= len(shown) // 2

    await on_survivor.send({"type": "regenerate"})
    again = await on_survivor.until("done")
    assert again[-1]["status"] == "complete"
    assert "".join(e["text"] for e in again if e["type"] == "token") == TEXT
    await on_survivor.close()
