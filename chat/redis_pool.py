"""The shared Redis connection, and what chat does when Redis goes away.

Policy: Redis is an accelerator for sharing state between processes (stream buffer, limiter,
response cache), never a single point of failure. When a call fails, callers report it with
`redis_failed()`; for the next `REDIS_RETRY_INTERVAL` seconds `get_redis()` returns None and every
caller uses its in-process fallback (limits exact per process, no response cache, resume only on
the same process). After that, the next caller probes Redis with a PING; when it answers, all go
back to it, without a restart. Going away and coming back are each logged once.
"""

from __future__ import annotations

import asyncio
import time
import weakref

import redis.asyncio as aioredis
import structlog
from django.conf import settings
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

REDIS_RETRY_INTERVAL = 2.0

# One client per event loop (and URL): redis.asyncio connections belong to the loop that opened
# them, and keying by URL lets a changed settings.REDIS_URL (tests) take effect at once.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, aioredis.Redis]] = (
    weakref.WeakKeyDictionary()
)
_down_since: float | None = None
_retry_at = 0.0


def redis_configured() -> bool:
    return bool(settings.REDIS_URL)


def redis_available() -> bool:
    """Whether Redis is configured and not known to be down."""
    return redis_configured() and _down_since is None


def _client_for_loop() -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    by_url = _clients.setdefault(loop, {})
    client = by_url.get(settings.REDIS_URL)
    if client is None:
        client = aioredis.Redis.from_url(
            settings.REDIS_URL,
            socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
            socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
            retry_on_timeout=False,
            health_check_interval=30,
        )
        by_url[settings.REDIS_URL] = client
    return client


async def get_redis() -> aioredis.Redis | None:
    """Return a client, or None when Redis is not configured or is down (use the fallback)."""
    global _down_since, _retry_at
    if not redis_configured():
        return None
    client = _client_for_loop()
    if _down_since is None:
        return client
    if time.monotonic() < _retry_at:
        return None
    # One probe at a time: callers arriving while it runs keep using their fallback.
    _retry_at = time.monotonic() + REDIS_RETRY_INTERVAL
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        redis_failed(exc)
        return None
    log.warning("redis_back", down_for_s=round(time.monotonic() - _down_since, 1))
    _down_since = None
    return client


def redis_failed(exc: BaseException) -> None:
    """Report a failed Redis call: callers fall back until the next probe."""
    global _down_since, _retry_at
    now = time.monotonic()
    if _down_since is None:
        _down_since = now
        log.warning(
            "redis_unavailable", error=str(exc) or type(exc).__name__, fallback="in-process"
        )
    _retry_at = now + REDIS_RETRY_INTERVAL


def redis_status() -> dict[str, bool]:
    return {"configured": redis_configured(), "available": redis_available()}


def redis_reset() -> None:
    """Forget that Redis was down (tests, and after an operator fixed it: no probe delay)."""
    global _down_since, _retry_at
    _down_since = None
    _retry_at = 0.0


async def redis_close() -> None:
    """Close this event loop's clients (at shutdown, and between tests)."""
    loop = asyncio.get_running_loop()
    for client in _clients.pop(loop, {}).values():
        await client.aclose()
