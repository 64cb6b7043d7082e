"""The WebSocket Origin check: the whole origin (scheme, host and port), as HTTP CSRF compares it.

channels' AllowedHostsOriginValidator compares only the host name with ALLOWED_HOSTS, so
`http://localhost:1` or `ws://127.0.0.1` passed where the CSRF check refuses them. Here an origin
is accepted when it is exactly this site's own (the scheme of the connection, http for ws and
https for wss, and the Host it was made to, itself one of ALLOWED_HOSTS), or one of
CSRF_TRUSTED_ORIGINS. A handshake without an Origin header (not a browser) is refused too.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

SCHEMES = {"ws": "http", "wss": "https"}


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def origin_allowed(scope) -> bool:
    origin = _header(scope, b"origin")
    host = _header(scope, b"host")
    if not origin or not host:
        return False
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    parts = urlsplit(origin)
    scheme = SCHEMES.get(scope.get("scheme", "ws"), "http")
    return parts.scheme == scheme and parts.netloc.lower() == host.lower() and not parts.path


class SameOriginValidator:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.app(scope, receive, send)
