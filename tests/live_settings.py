"""Settings for a real daphne process started by `tests.live.LiveServer`.

The test settings, plus the scripted model (see `tests/scripted_provider.py`). It is the default
provider here; `CHAT_PROVIDER` in the environment picks another one.
"""

import os

# Read before tests.settings, which defaults CHAT_PROVIDER to "offline".
_provider = os.environ.get("CHAT_PROVIDER") or "scripted"
_model = os.environ.get("CHAT_MODEL", "")

from tests.settings import *  # noqa: E402, F403

CHAT_PROVIDERS = {**CHAT_PROVIDERS, "scripted": "tests.scripted_provider.ScriptedProvider"}  # noqa: F405
CHAT_PROVIDER = _provider
if CHAT_PROVIDER == "scripted":
    CHAT_MODEL = _model or "scripted"

# Every page the browser tests load carries a strict policy (see tests/live_csp.py).
MIDDLEWARE = ["tests.live_csp.StrictCSPMiddleware", *MIDDLEWARE]  # noqa: F405
