"""`python -m tests.plugin_app.probe load|invalidate`: one process's view of the plantshop universe
(prints the loader's text as a reply would get it). Used by the two-process cache test."""

from __future__ import annotations

import sys

import django

django.setup()

from chat.reply.context import _load_cached  # noqa: E402
from chat.reply.universes import ContextRequest, universe_get, universe_invalidate  # noqa: E402
from chat.signals import Asker  # noqa: E402

ASKER = Asker(user_id=None, visitor_key="probe-visitor", kind="anonymous")

if sys.argv[1] == "invalidate":
    universe_invalidate("plantshop")
    print("invalidated")
else:
    universe = universe_get("plantshop", ASKER)
    part = _load_cached(universe, ContextRequest(question="q", universe="plantshop", asker=ASKER))
    print(part.text if part else "")
