"""config.settings read from the environment, in a fresh interpreter each time.

Settings are computed once per process, so every case runs `django.setup()` in a subprocess with
exactly the environment under test (never the developer's `.env`, never this process's
DATABASE_URL or REDIS_URL).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.services import POSTGRES_URL, require_postgres, require_redis

ROOT = Path(__file__).resolve().parents[2]
SHOW_SETTINGS = """
import json, django
django.setup()
from django.conf import settings
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "name": str(settings.DATABASES["default"]["NAME"]),
    "host": settings.DATABASES["default"].get("HOST", ""),
    "cache": settings.CACHES["default"]["BACKEND"],
    "cache_location": settings.CACHES["default"].get("LOCATION", ""),
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "layer_hosts": settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("hosts", []),
    "debug": settings.DEBUG,
}))
"""


def clean_env(**variables: str) -> dict[str, str]:
    """A minimal environment: config.settings, no env file, a secret key, quiet logs."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(ROOT)),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_ENV_FILE": "",
        "DJANGO_SECRET_KEY": "settings-test-key",
        "LOG_LEVEL": "ERROR",
    }
    env.update(variables)
    return {k: v for k, v in env.items() if v is not None}


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def settings_for(**variables: str) -> dict:
    done = run_python(SHOW_SETTINGS, clean_env(**variables))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_defaults_are_sqlite_and_in_process_cache_and_channel_layer():
    shown = settings_for()

    assert shown["engine"] == "django.db.backends.sqlite3"
    assert shown["name"].endswith("db.sqlite3")
    assert shown["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert shown["layer"] == "channels.layers.InMemoryChannelLayer"
    assert shown["debug"] is False


def test_database_url_and_redis_url_switch_to_postgresql_and_redis():
    shown = settings_for(
        DATABASE_URL="postgres://concierge:secret@db.internal:5432/concierge",
        REDIS_URL="redis://cache.internal:6379/2",
    )

    assert shown["engine"] == "django.db.backends.postgresql"
    assert (shown["name"], shown["host"]) == ("concierge", "db.internal")
    assert shown["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert shown["cache_location"] == "redis://cache.internal:6379/2"
    assert shown["layer"] == "channels_redis.core.RedisChannelLayer"
    assert shown["layer_hosts"] == [
        {"address": "redis://cache.internal:6379/2", "socket_timeout": 15}
    ]


def test_a_missing_secret_key_in_production_is_a_clear_error():
    done = run_python(SHOW_SETTINGS, clean_env(DJANGO_SECRET_KEY=None, DJANGO_DEBUG="false"))

    assert done.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is not set" in done.stderr


def test_a_missing_secret_key_is_allowed_in_debug():
    shown = settings_for(DJANGO_SECRET_KEY=None, DJANGO_DEBUG="true")

    assert shown["debug"] is True


@pytest.fixture
def throwaway_database():
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    import psycopg

    admin_url = require_postgres().replace("postgres://", "postgresql://", 1)
    name = f"concierge_settings_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.services
def test_check_and_migrate_plan_run_against_a_real_postgresql(throwaway_database):
    env = clean_env(DATABASE_URL=throwaway_database)

    check = run_manage("check", "--database", "default", env=env)
    plan = run_manage("migrate", "--plan", env=env)

    assert check.returncode == 0, check.stderr
    assert "System check identified no issues" in check.stdout
    assert plan.returncode == 0, plan.stderr
    assert "Planned operations:" in plan.stdout
    assert "chat.0001_initial" in plan.stdout


@pytest.mark.services
def test_the_cache_and_channel_layer_work_through_a_real_redis():
    redis_url = require_redis()
    key = f"h1-settings-test:{uuid.uuid4().hex}"
    code = f"""
import asyncio, django
django.setup()
from django.core.cache import cache
from channels.layers import get_channel_layer
cache.set({key!r}, "stored", 30)
print("cache", cache.get({key!r}))
cache.delete({key!r})

async def roundtrip():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {{"type": "settings.test", "key": {key!r}}})
    message = await asyncio.wait_for(layer.receive(channel), timeout=5)
    print("layer", message["key"])

asyncio.run(roundtrip())
"""
    done = run_python(code, clean_env(REDIS_URL=redis_url))

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["cache", "stored", "layer", key]
