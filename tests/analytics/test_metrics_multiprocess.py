"""Two real daphne processes, one PROMETHEUS_MULTIPROC_DIR: /metrics on either tells one truth."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
import uuid

import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from tests.chat.test_multiprocess import visitor_cookie
from tests.live import LiveServer, migrate_db

pytestmark = [pytest.mark.slow]
TOKEN = "metrics-test-token"


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("metrics")
    metrics_dir = tmp / "prometheus"
    metrics_dir.mkdir()
    env = {
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "METRICS_TOKEN": TOKEN,
        "SCRIPTED_TOKEN_DELAY": "0.01",
        "CHAT_RATE_LIMIT": "",
        "CHAT_RATE_LIMIT_IP": "",
        "CHAT_CACHE_TTL": "0",
        "KNOWLEDGE_DENSE_SEARCH": "false",
    }
    migrate_db(tmp / "db.sqlite3", env=env)
    servers = [LiveServer(db_path=tmp / "db.sqlite3", env=env) for _ in range(2)]
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


def scrape(server: LiveServer, token: str | None = TOKEN) -> dict[tuple, float]:
    request = urllib.request.Request(f"{server.url}/metrics")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - 127.0.0.1
        body = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


async def ask_once(server: LiveServer, text: str):
    """Open a socket, get one reply to the end, and return the still-open socket."""
    cookie = visitor_cookie(server)
    ws = await websockets.connect(
        server.ws_url, origin=server.url, additional_headers={"Cookie": cookie}
    )
    await ws.send(json.dumps({"type": "hello", "session": None, "page": {"url": "/"}}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 15))["type"] == "ready"
    await ws.send(json.dumps({"type": "message", "id": str(uuid.uuid4()), "text": text}))
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), 15))
        if event["type"] == "done":
            assert event["status"] == "complete"
            return ws


def test_metrics_are_refused_without_the_token(two_servers):
    with pytest.raises(urllib.error.HTTPError) as refused:
        scrape(two_servers[0], token=None)
    assert refused.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as wrong:
        scrape(two_servers[0], token="not-the-token")
    assert wrong.value.code == 401


async def test_both_processes_count_into_one_scrape(two_servers):
    first, second = two_servers
    key = ("concierge_replies_total", (("provider", "scripted"), ("status", "complete")))
    before = scrape(first).get(key, 0)
    sockets = [await ask_once(first, "say: one"), await ask_once(second, "say: two"),
               await ask_once(second, "say: three")]  # fmt: skip
    try:
        for server in (first, second):  # either process reports the sum of both
            deadline = asyncio.get_running_loop().time() + 10
            while scrape(server).get(key, 0) < before + 3:
                assert asyncio.get_running_loop().time() < deadline, scrape(server)
                await asyncio.sleep(0.2)
            seen = scrape(server)
            assert seen[key] == before + 3
            assert seen[("concierge_open_sockets", ())] == 3
            assert seen[("concierge_replies_in_flight", ())] == 0
            ttft = ("concierge_ttft_seconds_count", (("provider", "scripted"),))
            assert seen[ttft] >= 3
    finally:
        for ws in sockets:
            await ws.close()
