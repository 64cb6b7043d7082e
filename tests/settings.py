"""Settings for the test suite: the project's settings, never the developer's `.env`."""

import os

os.environ["DJANGO_ENV_FILE"] = ""
os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-secret-key")
os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("CHAT_PROVIDER", "offline")
os.environ.setdefault("LOG_JSON", "false")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("KNOWLEDGE_WARM_UP", "false")  # tests load search when they need it
# The intent router loads the embedding model: tests about routing turn it on themselves.
os.environ.setdefault("CHAT_INTENT_ROUTER", "")
# Titles by the model would take scripted replies meant for the test: tests of titles turn it on.
os.environ.setdefault("CHAT_TITLES_BY_MODEL", "false")
os.environ.setdefault("ANALYTICS_FLUSH_MS", "0")  # recorded in place; writer tests batch

from config.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A host app that plugs a universe and a context source into chat (tests/plugin_app).
INSTALLED_APPS = [*INSTALLED_APPS, "tests.plugin_app"]  # noqa: F405
MEDIA_ROOT = BASE_DIR / "var" / "test-media"  # noqa: F405

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, like the embedded default, not shared-cache memory: replies read the database from
    # several threads at once (context loaders, retrieval), and an in-memory database shared
    # between connections fails them with "table is locked" instead of waiting.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(BASE_DIR / "var" / f"test-{os.getpid()}.sqlite3")  # noqa: F405
    }
