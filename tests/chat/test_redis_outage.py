"""A real redis-server, killed mid-test and brought back: chat keeps limiting, then reuses it."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import time
import uuid

import pytest
import redis
from structlog.testing import capture_logs

from chat import redis_pool
from chat.guards.cache import CachedReply, cache_get, cache_key, cache_put
from chat.guards.limits import REDIS_PREFIX, local_limits_clear, rate_limit_hit
from tests.services import free_port, missing

pytestmark = pytest.mark.services

RETRY_INTERVAL = 0.3
REPLY = CachedReply(text="Open 9 to 5.", sources=[], model="m", provider="p")


class RedisServer:
    """A throw-away redis-server on its own port, with no persistence."""

    def __init__(self, tmp_path) -> None:
        self.port = free_port()
        self.dir = tmp_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        options = {"port": self.port, "save": "", "appendonly": "no", "daemonize": "no"}
        command = [shutil.which("redis-server"), "--dir", str(self.dir)]
        for name, value in options.items():
            command += [f"--{name}", str(value)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def zcard(self, key: str) -> int:
        client = redis.Redis(port=self.port)
        try:
            return client.zcard(REDIS_PREFIX + key)
        finally:
            client.close()


@pytest.fixture
async def server(tmp_path, settings, monkeypatch):
    if not shutil.which("redis-server"):
        missing("redis-server is not installed (apt-get install redis-server)")
    instance = RedisServer(tmp_path)
    instance.start()
    settings.REDIS_URL = instance.url
    settings.CHAT_RATE_LIMIT = "5/minute"
    settings.CHAT_CACHE_TTL = 60
    monkeypatch.setattr(redis_pool, "REDIS_RETRY_INTERVAL", RETRY_INTERVAL)
    redis_pool.redis_reset()
    local_limits_clear()
    yield instance
    await redis_pool.redis_close()
    redis_pool.redis_reset()
    local_limits_clear()
    if instance.process.poll() is None:
        instance.process.send_signal(signal.SIGCONT)
        instance.kill()


async def allowed_of(key: str, hits: int) -> int:
    decisions = [await rate_limit_hit(keys=[key]) for _ in range(hits)]
    return sum(decision.allowed for decision in decisions)


def events(logs: list[dict]) -> list[str]:
    return [entry["event"] for entry in logs if entry["event"].startswith("redis_")]


async def test_chat_falls_back_while_redis_is_down_and_returns_to_it_without_a_restart(server):
    before, during, after = (f"visitor:{name}-{uuid.uuid4().hex}" for name in "abc")
    question = cache_key(text="hours?", universe="", kb_version="1", model="m", options={})

    assert await allowed_of(before, 2) == 2
    assert server.zcard(before) == 2  # Redis is in use
    client = await redis_pool.get_redis()

    server.kill()
    with capture_logs() as logs:
        assert await allowed_of(during, 8) == 5  # in-process, and still exact
        await cache_put(question, REPLY)  # dropped, no error
        assert await cache_get(question) is None
        await asyncio.sleep(RETRY_INTERVAL + 0.1)
        assert await allowed_of(during, 1) == 0  # a failed probe, still limited locally
    assert events(logs) == ["redis_unavailable"]  # logged once, not per call or per probe

    server.start()
    await asyncio.sleep(RETRY_INTERVAL + 0.1)
    with capture_logs() as logs:
        assert await allowed_of(after, 3) == 3
        await cache_put(question, REPLY)
        assert await cache_get(question) == REPLY
    assert events(logs) == ["redis_back"]
    assert server.zcard(after) == 3  # back in Redis
    assert redis_pool.redis_available()
    assert await redis_pool.get_redis() is client  # the same client, nothing re-created


async def test_a_hung_redis_costs_one_socket_timeout_then_the_fallback(server, settings):
    settings.REDIS_SOCKET_TIMEOUT = 0.2
    await redis_pool.redis_close()  # clients read the timeout when created
    key = f"visitor:hung-{uuid.uuid4().hex}"
    assert await allowed_of(key, 1) == 1
    server.process.send_signal(signal.SIGSTOP)
    try:
        with capture_logs() as logs:
            started = time.monotonic()
            decision = await rate_limit_hit(keys=[key])
            first = time.monotonic() - started
            started = time.monotonic()
            await rate_limit_hit(keys=[key])
            second = time.monotonic() - started
        assert decision.allowed
        assert 0.15 < first < 1.5  # waited for the socket timeout, not forever
        assert second < 0.05  # then the fallback answers at once
        assert events(logs) == ["redis_unavailable"]
    finally:
        server.process.send_signal(signal.SIGCONT)
