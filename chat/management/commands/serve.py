"""`manage.py serve [-b HOST] [-p PORT]`: daphne with the limits this app advertises.

One truth for the limits: daphne's WebSocket message and frame caps follow
`CHAT_MAX_FRAME_BYTES` (twice it, so that a frame over the app's limit still reaches the app and
is answered with `too_large` on a live socket instead of a dropped connection; only frames over
twice the limit are cut by daphne), with handshake, keepalive and response timeouts. Forwarded
headers are read by config/proxy.py from `CHAT_TRUSTED_PROXIES` only, never by daphne's
`--proxy-headers`, which trusts anyone. `make run`, the tests, the Dockerfile and
docker-compose.yml all start daphne through this command.
"""

from __future__ import annotations

from daphne.cli import CommandLineInterface
from django.conf import settings
from django.core.management.base import BaseCommand

APPLICATION = "config.asgi:application"


def daphne_arguments(*, host: str, port: int) -> list[str]:
    cap = str(2 * settings.CHAT_MAX_FRAME_BYTES)
    return [
        "-b", host,
        "-p", str(port),
        "--websocket-max-message-size", cap,
        "--websocket-max-frame-size", cap,
        "--websocket_connect_timeout", str(settings.SERVE_HANDSHAKE_TIMEOUT),
        "--ping-interval", str(settings.SERVE_PING_INTERVAL),
        "--ping-timeout", str(settings.SERVE_PING_TIMEOUT),
        "--http-timeout", str(settings.SERVE_HTTP_TIMEOUT),
        "--application-close-timeout", "10",
        APPLICATION,
    ]  # fmt: skip


class Command(BaseCommand):
    help = "Run the site with daphne and the limits the app advertises (see the README)."

    def add_arguments(self, parser):
        parser.add_argument("-b", "--bind", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument("-p", "--port", type=int, default=8000)

    def handle(self, *args, bind: str, port: int, **options):
        from config import asgi  # loads and warms the application before daphne listens

        asgi.settle_memory()
        CommandLineInterface().run(daphne_arguments(host=bind, port=port))
