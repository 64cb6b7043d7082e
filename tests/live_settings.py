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

# The browser tests run under the product's own Content-Security-Policy (config/middleware.py),
# with images limited to this origin: any script or load the widget needs from elsewhere fails.
CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(  # noqa: F405
    "img-src 'self' data: blob:", "img-src 'self'"
)
