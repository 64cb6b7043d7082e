"""deploy/nginx/concierge.conf in front of three real daphne processes, PostgreSQL and Redis.

nginx runs the committed file with only its ports replaced (and, for the test's eyes, a header
naming the process that answered). What production relies on: a reply streams through the
balancer, over WebSocket and over SSE without buffering; a visitor whose connection drops
reconnects, lands on another process and resumes with nothing lost or repeated; a process that
is gone is skipped.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
import uuid
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
import websockets

from tests.live import LiveServer, migrate_db
from tests.services import free_port, missing, require_postgres, require_redis

pytestmark = [pytest.mark.services, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "nginx" / "concierge.conf"
TEXT = " ".join(["Every token of a reply survives a dropped connection behind nginx."] * 3)


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    if not found:
        missing("nginx is not installed (scripts/ensure_nginx.sh installs Debian's nginx-light)")
    return found


def site_config(*, port: int, upstreams: list[int]) -> str:
    """The committed site file with the test's ports, plus a header naming the upstream."""
    text = CONFIG.read_text()
    servers = re.findall(r"^\s*server 127\.0\.0\.1:\d+ .*;$", text, flags=re.M)
    assert len(servers) == len(upstreams), "the file balances three processes"
    for line, upstream in zip(servers, upstreams, strict=True):
        text = text.replace(line, re.sub(r":\d+ ", f":{upstream} ", line))
    text = re.sub(r"^\s*listen \[::\]:80;\n", "", text, flags=re.M)
    text = re.sub(r"listen 80;", f"listen 127.0.0.1:{port};", text)
    return text.replace(
        "server_name _;", "server_name _;\n    add_header X-Upstream $upstream_addr always;"
    )


class Nginx:
    """nginx in the foreground with a prefix of its own, serving the site file."""

    def __init__(self, *, folder: Path, upstreams: list[int]) -> None:
        self.folder = folder
        self.port = free_port()
        (folder / "concierge.conf").write_text(site_config(port=self.port, upstreams=upstreams))
        (folder / "nginx.conf").write_text(
            "daemon off;\nuser root;\nworker_processes 1;\n"
            f"pid {folder}/nginx.pid;\nerror_log {folder}/error.log info;\n"
            "events { worker_connections 512; }\n"
            "http {\n"
            f"  access_log {folder}/access.log;\n"
            f"  client_body_temp_path {folder}/body;\n  proxy_temp_path {folder}/proxy;\n"
            f"  include {folder}/concierge.conf;\n"
            "}\n"
        )
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = nginx_binary()
        command = [binary, "-p", str(self.folder), "-c", str(self.folder / "nginx.conf")]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        self.process = subprocess.Popen(command, stderr=subprocess.DEVNULL)  # noqa: S603
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/api/health/", timeout=5).read()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"nginx did not answer:\n{self.error_log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def error_log(self) -> str:
        path = self.folder / "error.log"
        return path.read_text()[-3000:] if path.exists() else ""


@pytest.fixture(scope="module")
def database_url():
    """A PostgreSQL database of this module's own, dropped at the end."""
    import psycopg

    server = require_postgres()
    name = f"concierge_nginx_{os.getpid()}"
    admin_url = server.replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{server.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def balanced(tmp_path_factory, database_url):
    """nginx on a free port in front of three daphne processes; yields (nginx, servers)."""
    nginx_binary()
    folder = tmp_path_factory.mktemp("nginx")
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": require_redis().rsplit("/", 1)[0] + "/7",
        "SCRIPTED_TOKEN_DELAY": "0.03",
        "CHAT_RATE_LIMIT_IP": "",
        "CHAT_CACHE_TTL": "0",
    }
    migrate_db(folder / "unused.sqlite3", env=env)
    servers = [LiveServer(db_path=folder / "unused.sqlite3", env=env) for _ in range(3)]
    nginx = Nginx(folder=folder, upstreams=[s.port for s in servers])
    try:
        for server in servers:
            server.start()
        nginx.start()
        yield nginx, servers
    finally:
        nginx.stop()
        for server in servers:
            server.stop()


def visitor(nginx: Nginx) -> tuple[str, str]:
    """A page view through the balancer: the visitor's cookie header and CSRF token."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{nginx.url}/", timeout=10).read()
    cookies = {c.name: c.value for c in jar}
    return "; ".join(f"{k}={v}" for k, v in cookies.items()), cookies["csrftoken"]


class Socket:
    """The chat socket through nginx; `upstream` is the daphne process that took it."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.upstream = ws.response.headers.get("X-Upstream", "")

    @classmethod
    async def open(cls, nginx: Nginx, cookie: str) -> Socket:
        ws = await websockets.connect(
            f"ws://127.0.0.1:{nginx.port}/ws/chat/",
            origin=nginx.url,
            additional_headers={"Cookie": cookie},
            open_timeout=30,
        )
        return cls(ws)

    async def send(self, frame: dict) -> None:
        await self.ws.send(json.dumps(frame))

    async def receive(self, timeout: float = 15) -> dict:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def until(self, type_: str) -> list[dict]:
        events = [await self.receive()]
        while events[-1]["type"] != type_:
            events.append(await self.receive())
        return events

    async def hello(self, session=None, resume=None) -> dict:
        frame = {"type": "hello", "session": session, "page": {"url": "/", "title": "Home"}}
        if resume:
            frame["resume"] = resume
        await self.send(frame)
        return await self.receive()


async def test_a_dropped_socket_resumes_on_another_process_through_the_balancer(balanced):
    nginx, _ = balanced
    cookie, _ = visitor(nginx)
    first = await Socket.open(nginx, cookie)
    await first.hello()
    await first.send({"type": "message", "id": str(uuid.uuid4()), "text": f"say: {TEXT}"})
    received = [await first.receive() for _ in range(2 + 5)]  # ack, start, 5 tokens
    session, reply_id = received[0]["session"], received[1]["message"]
    tokens = [e for e in received if e["type"] == "token"]
    await first.ws.close()  # the connection drops mid-reply

    again = await Socket.open(nginx, cookie)
    for _ in range(5):  # the balancer decides; we only want to see another process resume
        if again.upstream != first.upstream:
            break
        await again.ws.close()
        again = await Socket.open(nginx, cookie)
    assert first.upstream and again.upstream != first.upstream, nginx.error_log()
    resume = {"message": reply_id, "seq": tokens[-1]["seq"]}
    ready = await again.hello(session=session, resume=resume)
    assert ready["type"] == "ready"
    rest = await again.until("done")
    more = [e for e in rest if e["type"] == "token"]
    seqs = [t["seq"] for t in tokens + more]
    assert seqs == list(range(len(seqs)))  # nothing lost, nothing repeated
    assert rest[-1]["status"] == "complete"
    await again.ws.close()
    reader = await Socket.open(nginx, cookie)
    stored = (await reader.hello(session=session))["history"][-1]
    await reader.ws.close()
    assert stored["id"] == reply_id and len(seqs) > 20
    assert "".join(t["text"] for t in tokens + more) == stored["text"]


def test_sse_events_pass_the_balancer_as_they_are_written(balanced):
    nginx, _ = balanced
    cookie, csrf = visitor(nginx)
    body = json.dumps(
        {"session": None, "message": {"id": str(uuid.uuid4()), "text": f"say: {TEXT}"}}
    )
    connection = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=30)
    headers = {
        "Content-Type": "application/json",
        "Cookie": cookie,
        "X-CSRFToken": csrf,
        "Origin": nginx.url,
    }
    started = time.monotonic()
    connection.request("POST", "/api/chat/stream/", body=body, headers=headers)
    response = connection.getresponse()
    assert response.status == 200, response.read()[:500]
    arrivals: list[tuple[float, dict]] = []
    while not arrivals or arrivals[-1][1]["type"] not in ("done", "error"):
        line = response.readline()
        assert line, "the stream ended without done"
        if line.startswith(b"data: "):
            arrivals.append((time.monotonic() - started, json.loads(line[6:])))
    connection.close()
    tokens = [(t, e) for t, e in arrivals if e["type"] == "token"]
    assert len(tokens) > 20 and arrivals[-1][1]["status"] == "complete"
    # Pieces are written 30 ms apart; buffered, they would arrive in bursts a few KB long.
    gaps = sorted(b[0] - a[0] for a, b in zip(tokens, tokens[1:], strict=False))
    assert gaps[len(gaps) // 2] > 0.01, gaps


def test_a_process_that_is_gone_is_skipped(balanced):
    nginx, servers = balanced
    stopped = servers[0]
    stopped.stop()
    try:
        answered = set()
        for _ in range(9):
            with urllib.request.urlopen(f"{nginx.url}/api/health/", timeout=10) as response:
                assert response.status == 200
                answered.add(response.headers["X-Upstream"].rsplit(", ", 1)[-1])
        assert f"127.0.0.1:{stopped.port}" not in answered
        assert len(answered) == 2
    finally:
        stopped.start()
