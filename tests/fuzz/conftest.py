"""Fuzzing fixtures: a scripted model (no model runs), limits off, a Hypothesis profile.

The counts are fixed, not left to Hypothesis' defaults, so CI runs the same amount every time
(`FUZZ_SCALE=2` doubles them for a longer local hunt). Failures print the reproducing blob.
"""

from __future__ import annotations

import os

import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, settings

from tests.chat.conftest import connect, fake_provider  # noqa: F401 - fixtures used here

SCALE = float(os.environ.get("FUZZ_SCALE", "1"))

settings.register_profile(
    "concierge-fuzz",
    deadline=None,  # a case's time depends on the shared CPU, not on the code under test
    database=None,  # no .hypothesis/ folder in the work tree or CI's clone
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large, HealthCheck.filter_too_much],
)  # fmt: skip
FUZZ = settings.get_profile("concierge-fuzz")


def examples(n: int) -> int:
    return max(1, round(n * SCALE))


@pytest.fixture
def limits_off(settings):
    """No rate limit or quota in the way: the fuzzer sends hundreds of frames a second."""
    settings.CHAT_RATE_LIMIT = ""
    settings.CHAT_RATE_LIMIT_IP = ""
    for name in dir(django_settings):
        if name.startswith("CHAT_QUOTA_"):
            setattr(settings, name, 0)
    settings.CHAT_CACHE_TTL = 0
    # Each socket's frame and send budgets (chat/guards/sockets.py) would close the fuzzer's.
    budgets = {"CHAT_SOCKET_FRAMES_PER_SECOND": 1e6, "CHAT_SOCKET_FRAME_BURST": 10**6,
               "CHAT_SOCKET_SEND_BYTES_PER_MINUTE": 10**12}  # fmt: skip
    for name, value in budgets.items():
        if hasattr(django_settings, name):
            setattr(settings, name, value)

