"""Cached answers to first-turn questions, so the tenth visitor asking "what are your hours?"
gets the answer at once and costs no tokens.

The caller decides what may be cached (first turns only: later turns depend on the history). The
key covers everything else the answer depends on: the normalised question, the universe, the
knowledge base's version, the model and the generation options. Entries live in Redis when it is
configured, shared by every process; without Redis in Django's default cache. While Redis is
down the cache misses and drops writes (see chat.redis_pool): it never raises.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field

import structlog
from django.conf import settings
from django.core.cache import cache as django_cache
from redis.exceptions import RedisError

from chat.redis_pool import get_redis, redis_configured, redis_failed

log = structlog.get_logger(__name__)

KEY_PREFIX = "concierge:rc:v1:"
_SPACES = re.compile(r"\s+")
# Sentence-final punctuation, including full-width forms, that does not change the question.
_TRAILING = ".?!,;:…。？！，；：、 "


@dataclass(frozen=True)
class CachedReply:
    """An answer as it was streamed: its text, the sources it cited, and who wrote it."""

    text: str
    sources: list[dict] = field(default_factory=list)
    model: str = ""
    provider: str = ""


def normalise_question(text: str) -> str:
    """Casefold, collapse whitespace, strip trailing punctuation: "Hours?  " == "hours"."""
    return _SPACES.sub(" ", text.casefold()).strip().rstrip(_TRAILING)


def cache_key(*, text: str, universe: str, kb_version: str, model: str, options: dict) -> str:
    """The cache key of a first-turn question; equal keys may share an answer."""
    material = json.dumps(
        {
            "q": normalise_question(text),
            "universe": universe,
            "kb": kb_version,
            "model": model,
            "options": options,
        },
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return KEY_PREFIX + hashlib.sha256(material.encode()).hexdigest()


def _ttl() -> int:
    return int(settings.CHAT_CACHE_TTL)


def _decode(raw: bytes | str | None) -> CachedReply | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        return CachedReply(
            text=data["text"],
            sources=list(data.get("sources") or []),
            model=data.get("model", ""),
            provider=data.get("provider", ""),
        )
    except (ValueError, KeyError, TypeError):
        log.warning("response_cache_corrupt_entry")
        return None


async def cache_get(key: str) -> CachedReply | None:
    """The cached reply for `key`, or None (a miss, the cache off, or Redis down)."""
    if _ttl() <= 0:
        return None
    if not redis_configured():
        return _decode(await django_cache.aget(key))
    client = await get_redis()
    if client is None:
        return None
    try:
        return _decode(await client.get(key))
    except (RedisError, OSError) as exc:
        redis_failed(exc)
        return None


async def cache_put(key: str, reply: CachedReply) -> None:
    """Store `reply` under `key` for CHAT_CACHE_TTL seconds (nothing when off or Redis is down)."""
    ttl = _ttl()
    if ttl <= 0:
        return
    raw = json.dumps(asdict(reply), ensure_ascii=False)
    if not redis_configured():
        await django_cache.aset(key, raw, ttl)
        return
    client = await get_redis()
    if client is None:
        return
    try:
        await client.set(key, raw, ex=ttl)
    except (RedisError, OSError) as exc:
        redis_failed(exc)
