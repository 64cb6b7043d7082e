"""Health of the pieces chat depends on, for /api/health/ and operators."""

from __future__ import annotations

import asyncio
import hmac
import time
import uuid

import structlog
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from chat.guards.breaker import breakers_snapshot
from chat.providers import get_provider
from chat.redis_pool import redis_status

log = structlog.get_logger(__name__)

PROVIDER_PROBE_TTL = 10.0
_provider_probe: dict[str, tuple[float, dict]] = {}


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - health reports, it does not raise
        log.warning("health_database_failed", exc_info=True)
        return False


def _cache_ok() -> bool:
    key = f"health:{uuid.uuid4().hex}"
    try:
        cache.set(key, "1", 5)
        ok = cache.get(key) == "1"
        cache.delete(key)
        return ok
    except Exception:  # noqa: BLE001
        log.warning("health_cache_failed", exc_info=True)
        return False


async def _channel_layer_ok() -> bool:
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "health.ping"})
        message = await asyncio.wait_for(layer.receive(channel), timeout=2)
        return message.get("type") == "health.ping"
    except Exception:  # noqa: BLE001
        log.warning("health_channel_layer_failed", exc_info=True)
        return False


async def provider_status() -> dict:
    """The configured provider's reachability, probed at most every few seconds."""
    name = settings.CHAT_PROVIDER
    cached = _provider_probe.get(name)
    if cached and time.monotonic() - cached[0] < PROVIDER_PROBE_TTL:
        return cached[1]
    provider = get_provider(name)
    try:
        health = await provider.health()
    finally:
        await provider.aclose()
    status = {
        "name": name,
        "model": settings.CHAT_MODEL,
        "reachable": health.reachable,
        "models_available": health.models_available,
    }
    if health.detail:
        status["detail"] = health.detail
    if settings.CHAT_PROVIDER_NOTE:
        status["note"] = settings.CHAT_PROVIDER_NOTE
    _provider_probe[name] = (time.monotonic(), status)
    return status


async def health_report() -> dict:
    database, cache_ok, layer_ok, provider = await asyncio.gather(
        sync_to_async(_database_ok)(),
        sync_to_async(_cache_ok)(),
        _channel_layer_ok(),
        provider_status(),
    )
    # Only a lost database stops chat; the rest degrades it (see chat/redis_pool.py).
    healthy = cache_ok and layer_ok and provider["reachable"]
    return {
        "status": ("ok" if healthy else "degraded") if database else "error",
        "database": "ok" if database else "error",
        "cache": "ok" if cache_ok else "error",
        "channel_layer": "ok" if layer_ok else "error",
        "provider": provider,
        "breakers": breakers_snapshot(),
        "redis": redis_status(),
    }


async def health_details_allowed(request) -> bool:
    """Whether the caller may see the details (hosts, errors, breakers): a staff session, or
    `Authorization: Bearer <HEALTH_TOKEN>` when that setting is not empty. Anyone else gets the
    status only: a model server's internal URL or an error text is a map for an attacker."""
    token = settings.HEALTH_TOKEN
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if token and scheme.lower() == "bearer" and given.strip():
        if hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
    user = await request.auser()
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def health_public(report: dict) -> dict:
    """What an anonymous caller (a load balancer, an uptime check) learns: the status."""
    return {"status": report["status"]}
