"""Real PostgreSQL and Redis for the tests that are about them.

A test that needs a service calls `require_postgres()` / `require_redis()`. When the service is
missing the test is skipped with the reason, unless REQUIRE_SERVICES=1 (CI), where it fails.
"""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def services_required() -> bool:
    return os.environ.get("REQUIRE_SERVICES") == "1"


def missing(reason: str) -> None:
    if services_required():
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_postgres() -> str:
    import psycopg

    try:
        url = POSTGRES_URL.replace("postgres://", "postgresql://")
        with psycopg.connect(url, connect_timeout=2):
            pass
    except psycopg.Error as exc:
        missing(f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc}".strip())
    return POSTGRES_URL


def require_redis() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        missing(f"Redis is not reachable at {REDIS_URL}: {exc}")
    return REDIS_URL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":  # `python -m tests.services postgres redis`: exit 0 when all are up
    import sys

    os.environ["REQUIRE_SERVICES"] = "0"
    checks = {"postgres": require_postgres, "redis": require_redis}
    down = []
    for name in sys.argv[1:]:
        try:
            checks[name]()
        except pytest.skip.Exception as exc:
            down.append(str(exc.msg))
    for reason in down:
        print(f"   {reason}")
    sys.exit(1 if down else 0)
