"""The intent router's port: which universe (and knowledge category) a question belongs to.

When the visitor did not choose a universe, the reply asks the router named by
`settings.CHAT_INTENT_ROUTER` (a dotted path to `route(question, *, page, universes) -> Route`).
The knowledge app provides one (rules where they are certain, the loaded embedding model against
the universes' labelled examples otherwise). Without one, or below its confidence floor, every
question stays in the default universe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from chat.reply.universes import DEFAULT_UNIVERSE, Universe


@dataclass(frozen=True)
class Route:
    universe: str
    intent: str = ""  # finer than the universe: service_inquiry, navigation, lap_times, ...
    category: str = ""  # the knowledge category to search first; "" for all
    confidence: float = 0.0
    method: str = "default"  # rules, embedding, chosen (by the visitor) or default


Router = Callable[..., Route]

DEFAULT_ROUTE = Route(universe=DEFAULT_UNIVERSE)


@cache
def _router(path: str) -> Router | None:
    return import_string(path) if path else None


def routing_enabled() -> bool:
    return _router(getattr(settings, "CHAT_INTENT_ROUTER", "")) is not None


def route_question(question: str, *, page: dict, universes: list[Universe]) -> Route:
    """Route `question` among `universes` (those open to the asker). Never raises: a router
    that fails leaves the question in the default universe."""
    router = _router(getattr(settings, "CHAT_INTENT_ROUTER", ""))
    if router is None or not question.strip():
        return DEFAULT_ROUTE
    route = router(question, page=page, universes=universes)
    if route.universe not in {u.key for u in universes}:
        return Route(DEFAULT_UNIVERSE, route.intent, route.category, route.confidence, "default")
    return route
