"""A real server for browser and multi-process tests: daphne in its own process, on a free port.

    migrate_db(db_path)
    server = LiveServer(db_path=db_path, env={"SCRIPTED_TOKEN_DELAY": "0.02"})
    server.start()
    ...  # server.url, server.ws_url
    server.restart()   # same port, same database: clients must reconnect by themselves
    server.stop()

Everything is real except what the settings module swaps (tests.live_settings adds the scripted
model). The server's output goes to a log file next to the database; `log_tail()` returns its end
and a failed start includes it in the error.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.services import free_port

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "live-server-tests-only-secret-key"  # noqa: S105 - a test server


class LiveServerError(RuntimeError):
    """The live server did not start, or died while starting."""


def server_env(
    *,
    db_path: Path,
    settings_module: str = "tests.live_settings",
    env: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment a live server (or its `migrate`) runs with.

    It inherits this process's environment, except that with tests.live_settings the provider is
    the scripted one unless `env` names another (the test suite itself defaults to `offline`).
    """
    scripted = {"CHAT_PROVIDER": "scripted"} if settings_module == "tests.live_settings" else {}
    return {
        **os.environ,
        **scripted,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": f"sqlite:///{Path(db_path).resolve()}",
        "DJANGO_ENV_FILE": "",
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECURE_COOKIES": "false",
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }


def migrate_db(db_path: Path, env: dict[str, str] | None = None) -> None:
    """Create (or bring up to date) the SQLite database a live server will use."""
    result = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=server_env(db_path=db_path, env=env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise LiveServerError(f"migrate failed:\n{result.stdout}\n{result.stderr}")


class LiveServer:
    """A real daphne process serving the project on a free port.

    For browser and multi-process tests: `url`, `ws_url`, `start()`, `stop()`, `restart()`.
    """

    def __init__(
        self,
        *,
        db_path: Path,
        env: dict[str, str] | None = None,
        port: int | None = None,
        settings_module: str = "tests.live_settings",
    ) -> None:
        self.db_path = Path(db_path).resolve()
        self.port = port or free_port()
        self.env = server_env(db_path=self.db_path, settings_module=settings_module, env=env)
        self.log_path = self.db_path.parent / f"daphne-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/chat/"

    def start(self, timeout: float = 30) -> None:
        """Start daphne and wait until GET /api/health/ answers (any HTTP status)."""
        if self.process is not None:
            raise LiveServerError("The live server is already running.")
        with self.log_path.open("ab") as log:
            log.write(f"--- starting daphne on port {self.port}\n".encode())
            log.flush()
            self.process = subprocess.Popen(  # noqa: S603
                [sys.executable, "manage.py", "serve", "-b", "127.0.0.1", "-p", str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_healthy(timeout)
        except LiveServerError:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop daphne (SIGTERM, then SIGKILL after 10 s). Safe to call when not running."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def restart(self) -> None:
        """Stop and start again on the same port with the same database."""
        self.stop()
        self.start()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LiveServerError(
                    f"daphne exited with code {self.process.returncode}:\n{self.log_tail()}"
                )
            if _answers(f"{self.url}/api/health/"):
                return
            time.sleep(0.2)
        raise LiveServerError(f"daphne did not answer within {timeout:g} s:\n{self.log_tail()}")

    def __enter__(self) -> LiveServer:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):  # noqa: S310 - http://127.0.0.1 only
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP status means the server is up
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False
