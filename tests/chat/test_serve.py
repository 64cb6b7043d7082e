"""`manage.py serve`: daphne with the limits the app advertises, against a real daphne process."""

from __future__ import annotations

import base64
import io
import json
import uuid

import pytest
import websockets
from PIL import Image

from chat.management.commands.serve import daphne_arguments
from tests.live import LiveServer, migrate_db

pytestmark = [pytest.mark.slow]


def test_daphne_never_trusts_forwarded_headers_and_follows_the_frame_limit(settings):
    settings.CHAT_MAX_FRAME_BYTES = 1000
    args = daphne_arguments(host="0.0.0.0", port=8000)
    assert "--proxy-headers" not in args
    assert args[args.index("--websocket-max-message-size") + 1] == "2000"


def png_of(size: int) -> str:
    """A PNG data URL of about `size` bytes (noise does not compress)."""
    import os

    side = int((size / 3) ** 0.5)
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
def server(tmp_path):
    env = {
        "CHAT_PROVIDER": "offline",
        "CHAT_MAX_IMAGE_BYTES": str(5 * 1024 * 1024),
        "CHAT_MAX_FRAME_BYTES": str(2 * 1024 * 1024),
    }
    db_path = tmp_path / "serve.sqlite3"
    migrate_db(db_path, env=env)
    with LiveServer(db_path=db_path, env=env) as live:
        yield live


async def test_images_up_to_the_limit_pass_and_larger_frames_get_too_large(server):
    async with websockets.connect(server.ws_url, origin=server.url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "hello", "session": None, "page": {}}))
        assert json.loads(await ws.recv())["type"] == "ready"
        picture = png_of(900_000)  # a 1.2 MB frame: daphne's default would drop the socket
        await ws.send(
            json.dumps(
                {"type": "message", "id": str(uuid.uuid4()), "text": "This?", "image": picture}
            )
        )
        assert json.loads(await ws.recv())["type"] == "ack"
        while json.loads(await ws.recv())["type"] != "done":
            pass
        too_big = png_of(2_000_000)  # a 2.7 MB frame, over CHAT_MAX_FRAME_BYTES
        await ws.send(
            json.dumps(
                {"type": "message", "id": str(uuid.uuid4()), "text": "And?", "image": too_big}
            )
        )
        refusal = json.loads(await ws.recv())
        assert refusal["type"] == "error" and refusal["code"] == "too_large"
        await ws.send(json.dumps({"type": "ping"}))  # the socket is still alive
        assert json.loads(await ws.recv())["type"] == "pong"


def test_serve_settles_the_collector_once_the_application_is_loaded():
    """In a child process (freezing is for good): serve loads the application, then freezes
    the start-up's objects and raises the thresholds, then hands over to daphne."""
    import subprocess
    import sys

    script = """
import gc, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
import django
django.setup()
from daphne.cli import CommandLineInterface
from chat.management.commands.serve import Command
seen = {}
def run(self, args):
    seen["frozen"], seen["threshold"] = gc.get_freeze_count(), gc.get_threshold()
    seen["loaded"] = "config.asgi" in sys.modules
CommandLineInterface.run = run
assert gc.get_freeze_count() == 0 and gc.get_threshold() == (700, 10, 10)
Command().handle(bind="127.0.0.1", port=1)
print(seen["loaded"], seen["frozen"] > 10_000, seen["threshold"])
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == "True True (10000, 20, 20)", done.stderr[-2000:]
