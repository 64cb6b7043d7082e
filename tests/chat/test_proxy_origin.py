"""Who the client is behind a balancer (trusted proxies only) and whose pages may open a socket
(the whole origin, as CSRF compares it)."""

from __future__ import annotations

import pytest

from chat.identity import client_ip
from config.origin import origin_allowed
from config.proxy import TrustedProxies


def scope(*headers: tuple[bytes, bytes], kind="websocket", scheme="ws", peer="203.0.113.9"):
    return {"type": kind, "scheme": scheme, "client": (peer, 5555), "headers": list(headers)}


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "allowed"),
    [
        (b"http://testserver", b"testserver", "ws", True),
        (b"http://localhost:8000", b"localhost:8000", "ws", True),
        (b"https://localhost", b"localhost", "wss", True),
        (b"http://localhost:1", b"localhost:8000", "ws", False),  # another port
        (b"ws://127.0.0.1", b"127.0.0.1", "ws", False),  # not a page's origin
        (b"https://localhost", b"localhost", "ws", False),  # another scheme
        (b"http://evil.example", b"evil.example", "ws", False),  # not an allowed host
        (b"null", b"testserver", "ws", False),
    ],
)
def test_the_whole_origin_is_compared(settings, origin, host, scheme, allowed):
    settings.ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
    assert origin_allowed(scope((b"origin", origin), (b"host", host), scheme=scheme)) is allowed


def test_trusted_origins_and_a_missing_origin(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com"]
    assert origin_allowed(scope((b"origin", b"https://app.example.com"), (b"host", b"x")))
    assert not origin_allowed(scope((b"host", b"testserver")))


@pytest.mark.django_db(transaction=True)
async def test_a_foreign_port_is_refused_at_the_handshake(connect, fake_provider):
    client = await connect(origin=b"http://testserver:1")
    assert client.connected is False


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(settings):
    settings.CHAT_TRUSTED_PROXIES = ["10.0.0.0/8"]
    forged = scope((b"x-forwarded-for", b"1.2.3.4"), peer="203.0.113.9")
    assert client_ip(TrustedProxies.resolve(forged)) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_rightmost_untrusted_address_is_the_client(settings):
    settings.CHAT_TRUSTED_PROXIES = ["10.0.0.0/8", "192.168.1.7/32"]
    # The visitor forged "1.2.3.4"; our balancer (10.0.0.2) appended what it saw (198.51.100.7).
    behind = scope(
        (b"x-forwarded-for", b"1.2.3.4, 198.51.100.7"),
        (b"x-forwarded-proto", b"https"),
        peer="10.0.0.2",
    )
    resolved = TrustedProxies.resolve(behind)
    assert client_ip(resolved) == "198.51.100.7"
    assert resolved["scheme"] == "wss"
    chained = scope((b"x-forwarded-for", b"198.51.100.7, 192.168.1.7"), peer="10.0.0.2")
    assert client_ip(TrustedProxies.resolve(chained)) == "198.51.100.7"
    garbage = scope((b"x-forwarded-for", b"not-an-ip"), peer="10.0.0.2")
    assert client_ip(TrustedProxies.resolve(garbage)) == "10.0.0.2"


def test_nothing_is_trusted_by_default(settings):
    settings.CHAT_TRUSTED_PROXIES = []
    forged = scope((b"x-forwarded-for", b"1.2.3.4"), peer="127.0.0.1")
    assert client_ip(TrustedProxies.resolve(forged)) == "127.0.0.1"


@pytest.mark.django_db(transaction=True)
async def test_rotating_forged_addresses_does_not_escape_the_ip_limit(
    connect, fake_provider, settings
):
    settings.CHAT_RATE_LIMIT_IP = "3/minute"
    settings.CHAT_RATE_LIMIT = ""
    answered = 0
    for i in range(5):
        client = await connect(visitor_key=f"cookie-{i}")
        client.ws.scope["headers"].append((b"x-forwarded-for", f"10.9.9.{i}".encode()))
        await client.hello()
        await client.ask(f"Question {i}")
        events = await client.receive_until("done") if i < 3 else [await client.receive()]
        answered += events[-1]["type"] == "done"
    assert answered == 3
