"""Who the client really is behind a load balancer, trusting only the proxies we run.

daphne's `--proxy-headers` takes the leftmost X-Forwarded-For entry from anyone: a visitor who
sends a made-up one chooses their own address, and with it their rate limit and quota. This ASGI
middleware instead trusts forwarded headers only when the connection comes from a network in
`CHAT_TRUSTED_PROXIES`, and then takes the rightmost address that is not one of those proxies
(the one the first trusted proxy saw). `X-Forwarded-Proto` from a trusted proxy sets the scheme,
so that the WebSocket Origin check and secure cookies see `https` behind a TLS-terminating
balancer. Applied to HTTP and WebSocket scopes alike (config/asgi.py).
"""

from __future__ import annotations

import ipaddress
from functools import cache

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@cache
def trusted_networks(spec: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in spec if item.strip())


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _header(scope, name: bytes) -> str:
    values = [v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == name]
    return ",".join(values)


def forwarded_client(scope, networks: tuple[Network, ...]) -> str | None:
    """The client's address: the peer's, unless the peer is a trusted proxy, then the rightmost
    X-Forwarded-For entry that is not a trusted proxy."""
    peer = (scope.get("client") or (None,))[0]
    if peer is None or not _trusted(peer, networks):
        return peer
    hops = [hop.strip() for hop in _header(scope, b"x-forwarded-for").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop if _valid(hop) else peer
    return hops[0] if hops and _valid(hops[0]) else peer


def _valid(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


class TrustedProxies:
    """Rewrite `scope["client"]` (and `scheme`) from forwarded headers of trusted proxies only."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and settings.CHAT_TRUSTED_PROXIES:
            scope = self.resolve(scope)
        return await self.app(scope, receive, send)

    @staticmethod
    def resolve(scope) -> dict:
        networks = trusted_networks(tuple(settings.CHAT_TRUSTED_PROXIES))
        peer = scope.get("client") or (None, 0)
        if peer[0] is None or not _trusted(peer[0], networks):
            return scope
        scope = dict(scope)
        scope["client"] = (forwarded_client(scope, networks), peer[1])
        proto = _header(scope, b"x-forwarded-proto").split(",")[-1].strip().lower()
        if proto in ("http", "https"):
            secure = proto == "https"
            if scope["type"] == "websocket":
                scope["scheme"] = "wss" if secure else "ws"
            else:
                scope["scheme"] = proto
        return scope
