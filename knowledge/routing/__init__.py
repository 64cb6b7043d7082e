"""The intent router (settings.CHAT_INTENT_ROUTER): which universe, intent and knowledge category.

`route(question, *, page, universes)` decides in three steps, cheapest first:
1. Rules, where a phrase makes the answer certain ("how much", "broken link", "my usage"): a
   handful of regular expressions, microseconds. They only name the demo universes; a rule whose
   universe is not open to the asker keeps its intent and category in the default universe.
2. Otherwise the loaded embedding model (knowledge.embeddings, the same MiniLM that search uses)
   against the labelled examples of every universe passed in: k-nearest neighbours by cosine,
   a universe scored by the mean of its best `TOP_K` example similarities (k=1 measured best;
   the confidence is then the cosine to the nearest example). The examples of universes the
   asker may not use (signed-in or staff only) take part too: a question nearest to them keeps
   their intent and category in the default universe. Under
   `CHAT_ROUTER_MIN_CONFIDENCE` the question stays in the default universe.
   Without the model (KNOWLEDGE_DENSE_SEARCH=false, or it failed to load), the same vote runs on
   TF-IDF vectors of the examples' stemmed words, whose scores are lower for the same match: its
   floor is `LEXICAL_FLOOR_RATIO` times the setting.
3. The knowledge category: a web app the question names (Gmail, Trello, ...), else the universe's
   own, else a category the question names; only categories the knowledge base holds.

Rules and categories: knowledge/routing/rules.py; the examples (`intent: question` or a plain
question), their vectors and their cache per set of universes: knowledge/routing/examples.py.
Call `route` off the event loop: it may embed the question (a few ms) and, once a minute, read
the knowledge base's category list.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import structlog
from django.conf import settings

from chat.reply.routing import Route
from chat.reply.universes import DEFAULT_UNIVERSE, Universe, universe_list
from chat.signals import Asker
from knowledge.routing.examples import (
    DEFAULT_INTENT,
    ExampleSet,
    example_parse,
    examples_clear,
    examples_for,
)
from knowledge.routing.rules import categories_clear, rule_route, with_category

__all__ = [
    "categories_clear",
    "example_parse",
    "examples_clear",
    "examples_for",
    "route",
    "warm_up",
]

log = structlog.get_logger(__name__)

TOP_K = 1  # nearest neighbour: the most robust vote on the dev set (bench/routing_eval.py)
LEXICAL_FLOOR_RATIO = 0.6
EVERYONE = Asker(user_id=0, visitor_key="", kind="staff")  # an asker every universe is open to


def route(question: str, *, page: dict | None = None, universes: list[Universe]) -> Route:
    """Route `question` among `universes` (those open to the asker); see the module docstring."""
    started = time.perf_counter()
    open_keys = {u.key for u in universes}
    candidates = _candidates(universes)
    found = rule_route(question) or _by_examples(question, candidates)
    found = _within(with_category(found, question, candidates), open_keys)
    found = _on_error_page(found, page or {}, candidates, question)
    log.debug(
        "question_routed",
        universe=found.universe,
        intent=found.intent,
        category=found.category,
        method=found.method,
        confidence=round(found.confidence, 3),
        ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return found


def _candidates(universes: list[Universe]) -> list[Universe]:
    """`universes`, plus the registered ones this asker may not use (signed-in or staff only):
    their examples still tell the intent of a question, which then stays in the default
    universe (an anonymous "how many messages do I have left?" is general/account)."""
    keys = {u.key for u in universes}
    closed = [u for u in universe_list(EVERYONE) if u.audience != "anyone" and u.key not in keys]
    return [*universes, *closed]


def _within(found: Route, open_keys: set[str]) -> Route:
    """A universe the asker may not use (or that is not installed): the default, same intent."""
    if found.universe in open_keys:
        return found
    return replace(found, universe=DEFAULT_UNIVERSE)


def _by_examples(question: str, universes: list[Universe]) -> Route:
    examples = examples_for(universes)
    vector = examples.query_vector(question) if examples is not None else None
    if vector is None or not vector.any():
        return Route(DEFAULT_UNIVERSE, DEFAULT_INTENT)
    similarities = examples.vectors @ vector
    universe, confidence = _best(examples.universes, similarities)
    intent, _ = _best(examples.intents, np.where(_rows_of(examples, universe), similarities, -1))
    floor = settings.CHAT_ROUTER_MIN_CONFIDENCE
    if examples.mode == "lexical":
        floor *= LEXICAL_FLOOR_RATIO
    if confidence < floor:
        return Route(DEFAULT_UNIVERSE, DEFAULT_INTENT, confidence=confidence, method="default")
    return Route(universe, intent, confidence=confidence, method=examples.mode)


def _rows_of(examples: ExampleSet, universe: str) -> np.ndarray:
    return np.fromiter((u == universe for u in examples.universes), dtype=bool)


def _best(labels: tuple[str, ...], similarities: np.ndarray) -> tuple[str, float]:
    """The label whose best TOP_K rows have the highest mean similarity, and that mean."""
    scores: dict[str, list[float]] = {}
    for row in np.argsort(-similarities).tolist():
        best = scores.setdefault(labels[row], [])
        if len(best) < TOP_K and similarities[row] > -1:
            best.append(float(similarities[row]))
    label, best = max(scores.items(), key=lambda item: _mean(item[1]))
    return label, _mean(best)


def _mean(values: list[float]) -> float:
    return sum(values) / TOP_K if values else -1.0


def _on_error_page(found: Route, page: dict, candidates: list[Universe], question: str) -> Route:
    """On an error page, a question that is not clearly about something else is about the way."""
    status = str(page.get("status") or "")
    if not status.startswith("4") or found.universe != DEFAULT_UNIVERSE:
        return found
    if found.method == "rules" or "navigation" not in {u.key for u in candidates}:
        return found
    on_the_way = Route("navigation", "navigation_help", "", max(found.confidence, 0.5), "rules")
    return with_category(on_the_way, question, candidates)


def warm_up() -> None:
    """Build the example vectors of each audience's universes now rather than on a first question
    (a second or more on a shared CPU): call it where the process warms up search."""
    for asker in (None, Asker(user_id=0, visitor_key="", kind="user"), EVERYONE):
        examples_for(_candidates(universe_list(asker)))
