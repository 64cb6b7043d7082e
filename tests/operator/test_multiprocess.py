"""A settings change in the admin reaches every server process within seconds, no restart.

Two real daphne processes share one database and one real Redis; the change is made through
the admin form on the first; each process's effective configuration (what its next reply would
use) is read from its staff-only endpoint until both show it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from http.cookiejar import CookieJar

import pytest

from tests.live import ROOT, LiveServer, migrate_db, server_env
from tests.services import require_redis

pytestmark = [pytest.mark.services, pytest.mark.slow]

PASSWORD = "operator-password-1"


def create_superuser(db_path, env) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={
            **server_env(db_path=db_path, env=env),
            "DJANGO_SUPERUSER_USERNAME": "olga",
            "DJANGO_SUPERUSER_EMAIL": "olga@example.com",
            "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


class AdminSession:
    """A signed-in staff browser without the browser: cookies, CSRF token, form posts."""

    def __init__(self) -> None:
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def csrf(self) -> str:
        return next(c.value for c in self.jar if c.name == "csrftoken")

    def get(self, url: str) -> bytes:
        with self.opener.open(url, timeout=10) as response:
            return response.read()

    def post_form(self, url: str, fields: dict) -> int:
        data = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": self.csrf()}).encode()
        request = urllib.request.Request(url, data=data, headers={"Referer": url})
        with self.opener.open(request, timeout=30) as response:
            return response.status

    def login(self, server: LiveServer) -> None:
        self.get(f"{server.url}/admin/login/")
        self.post_form(
            f"{server.url}/admin/login/?next=/admin/",
            {"username": "olga", "password": PASSWORD, "next": "/admin/"},
        )

    def effective(self, server: LiveServer) -> dict:
        return json.loads(self.get(f"{server.url}/admin/chat/assistantsettings/effective.json"))


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory):
    redis_url = require_redis().rsplit("/", 1)[0] + "/8"
    db_path = tmp_path_factory.mktemp("operator-multiprocess") / "db.sqlite3"
    env = {
        "REDIS_URL": redis_url,
        "KNOWLEDGE_DENSE_SEARCH": "false",
        "CHAT_CONFIG_CHECK_SECONDS": "1",
        "LOG_LEVEL": "INFO",
    }
    migrate_db(db_path, env=env)
    create_superuser(db_path, env)
    servers = [LiveServer(db_path=db_path, env=env), LiveServer(db_path=db_path, env=env)]
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


def wait_for(session, server, model: str, started: float, timeout: float = 10) -> float:
    while time.monotonic() - started < timeout:
        if session.effective(server)["config"]["model"] == model:
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"{server.url} still uses {session.effective(server)['config']['model']}")


def test_a_saved_change_reaches_both_processes_within_seconds(two_servers):
    first, second = two_servers
    session = AdminSession()
    session.login(first)
    before = [session.effective(s) for s in two_servers]
    assert before[0]["pid"] != before[1]["pid"]  # two processes
    assert {b["config"]["model"] for b in before} == {"scripted"}  # the environment's

    timings = []
    for _ in range(3):
        model = f"operator-model-{uuid.uuid4().hex[:6]}"
        url = f"{first.url}/admin/chat/assistantsettings/1/change/"
        session.get(url)
        started = time.monotonic()
        status = session.post_form(url, {"model": model, "temperature": "0.55", "_save": "Save"})
        saved = time.monotonic()
        assert status == 200  # followed the redirect back to the form
        seen = [wait_for(session, server, model, started) for server in (first, second)]
        timings.append((saved - started, *seen))
    for server in two_servers:
        config = session.effective(server)["config"]
        assert config["generation"]["temperature"] == 0.55
        assert os.getpid() != session.effective(server)["pid"]
    print("\nsettings change (save s, first process s, second process s):", timings)
    assert max(max(t[1:]) for t in timings) < 3.0, timings
