"""Rate limits: an exact sliding window per user, per anonymous visitor and per IP address.

Each key keeps the times of its recent hits. A hit is allowed when every key has fewer than its
limit inside the window; only then is it recorded on all of them, so a refused message consumes
nothing. `retry_after` is the time until enough hits leave the window for the refusing key.

With Redis (settings.REDIS_URL) the hits live in one sorted set per key and a single Lua script
prunes, checks and records all keys atomically: every server process shares one budget, and the
clock is Redis's own unless the caller passes `now`. Without Redis, or while it is down (see
chat.redis_pool), the same window is kept in process memory: exact per process, shared by nothing.
"""

from __future__ import annotations

import bisect
import hashlib
import ipaddress
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from functools import lru_cache

import structlog
from django.core.exceptions import ImproperlyConfigured
from redis.exceptions import NoScriptError, RedisError

from chat.config import limit
from chat.identity import Owner
from chat.redis_pool import get_redis, redis_failed

log = structlog.get_logger(__name__)

REDIS_PREFIX = "concierge:rl:"
_PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0}
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour)s?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Decision:
    """The limiter's answer. When refused, `key` is the key that refused and `retry_after` the
    seconds until that key lets a hit through again."""

    allowed: bool
    retry_after: float = 0.0
    key: str = ""


@dataclass(frozen=True)
class Rate:
    limit: int
    window: float  # seconds


@lru_cache(maxsize=32)
def parse_rate(value: str) -> Rate | None:
    """Parse "N/second", "N/minute" or "N/hour" (None for an empty value: no limit).

    Raises ImproperlyConfigured for anything else, naming the value.
    """
    if not value.strip():
        return None
    match = _RATE_RE.match(value)
    if not match or int(match.group(1)) < 1:
        raise ImproperlyConfigured(
            f"Rate limit {value!r} is not N/second, N/minute or N/hour with N >= 1."
        )
    return Rate(limit=int(match.group(1)), window=_PERIODS[match.group(2).lower()])


def rate_for_key(key: str) -> Rate | None:
    """The rate that applies to a key: the IP rate for IPs, the visitor's otherwise (the
    operator's values in the admin, else CHAT_RATE_LIMIT_IP and CHAT_RATE_LIMIT)."""
    if key.startswith("ip:"):
        return parse_rate(limit("rate_limit_ip"))
    return parse_rate(limit("rate_limit"))


def ip_network_key(ip: str) -> str:
    """An IPv4 address as is; an IPv6 address by its /64 (one host often owns the whole /64)."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip.strip()[:64]
    if address.version == 4:
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


def rate_limit_keys(*, owner: Owner, ip: str | None) -> list[str]:
    """The keys a message from `owner` counts against.

    A user is limited as a user, from any browser or address. An anonymous visitor is limited
    both as a visitor and by IP, so clearing cookies does not buy a fresh budget.
    """
    if owner.is_authenticated:
        return [f"user:{owner.user_id}"]
    keys = [f"visitor:{owner.visitor_key}"]
    if ip:
        keys.append(f"ip:{ip_network_key(ip)}")
    return keys


async def rate_limit_hit(*, keys: list[str], now: float | None = None) -> Decision:
    """Count one message against every key, or refuse it without counting anything.

    `now` (seconds since the epoch) is for tests; by default Redis uses its own clock, so
    processes on machines with skewed clocks still share one exact window.
    """
    limited = [(key, rate) for key in keys if (rate := rate_for_key(key)) is not None]
    if not limited:
        return Decision(allowed=True)
    client = await get_redis()
    if client is not None:
        try:
            return await _redis_hit(client, limited, now)
        except (RedisError, OSError) as exc:
            redis_failed(exc)
    return _local.hit(limited, time.time() if now is None else now)


# --- Redis: one atomic script for all keys ---------------------------------------------------

# KEYS: the limiter keys. ARGV: now in ms ("" = the server's clock), a unique member, then a
# limit and a window in ms for each key. Returns {index of the refusing key or 0, wait in ms}.
_SCRIPT = """
local now
if ARGV[1] == '' then
  -- Before Redis 5, writing after reading the clock needs effects replication.
  if redis.replicate_commands then redis.replicate_commands() end
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
local refused, wait = 0, 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[1 + 2 * i])
  local window = tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count >= limit then
    -- The hit that must leave the window before one more fits.
    local entry = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    local key_wait = tonumber(entry[2]) + window - now
    if refused == 0 or key_wait > wait then
      refused, wait = i, key_wait
    end
  end
end
if refused == 0 then
  for i, key in ipairs(KEYS) do
    redis.call('ZADD', key, now, ARGV[2])
    redis.call('PEXPIRE', key, tonumber(ARGV[2 + 2 * i]))
  end
end
return {refused, wait}
"""
_SCRIPT_SHA = hashlib.sha1(_SCRIPT.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA1


async def _redis_hit(client, limited: list[tuple[str, Rate]], now: float | None) -> Decision:
    keys = [REDIS_PREFIX + key for key, _ in limited]
    args: list[str | int] = ["" if now is None else round(now * 1000), uuid.uuid4().hex]
    for _, rate in limited:
        args += [rate.limit, round(rate.window * 1000)]
    try:
        refused, wait_ms = await client.evalsha(_SCRIPT_SHA, len(keys), *keys, *args)
    except NoScriptError:  # first call on this server, or after a restart / SCRIPT FLUSH
        refused, wait_ms = await client.eval(_SCRIPT, len(keys), *keys, *args)
    if not refused:
        return Decision(allowed=True)
    key = limited[int(refused) - 1][0]
    return Decision(allowed=False, retry_after=max(int(wait_ms), 0) / 1000, key=key)


# --- In process: the same window in memory ----------------------------------------------------


class _LocalWindows:
    """Sliding windows in process memory. Check and record happen under one lock, with no
    await in between, so concurrent tasks (and threads) cannot both take the last slot."""

    SWEEP_EVERY = 1000  # hits between sweeps of keys whose window is empty

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._since_sweep = 0

    def hit(self, limited: list[tuple[str, Rate]], now: float) -> Decision:
        with self._lock:
            refused: tuple[float, str] | None = None
            for key, rate in limited:
                hits = self._pruned(key, now, rate.window)
                if len(hits) >= rate.limit:
                    wait = hits[len(hits) - rate.limit] + rate.window - now
                    if refused is None or wait > refused[0]:
                        refused = (wait, key)
            if refused is not None:
                return Decision(allowed=False, retry_after=max(refused[0], 0.0), key=refused[1])
            for key, _ in limited:
                bisect.insort(self._hits.setdefault(key, deque()), now)
            self._maybe_sweep(now)
            return Decision(allowed=True)

    def _pruned(self, key: str, now: float, window: float) -> deque[float]:
        hits = self._hits.get(key, deque())
        while hits and hits[0] <= now - window:
            hits.popleft()
        return hits

    def _maybe_sweep(self, now: float) -> None:
        """Drop keys with no hit in the longest window, so memory follows active senders."""
        self._since_sweep += 1
        if self._since_sweep < self.SWEEP_EVERY:
            return
        self._since_sweep = 0
        horizon = now - max(_PERIODS.values())
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= horizon]:
            del self._hits[key]

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()


_local = _LocalWindows()


def local_limits_clear() -> None:
    """Forget every in-process hit (tests)."""
    _local.clear()
