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

Examples are plain questions, or `intent: question` to give a finer intent than the universe
(an unlabelled example's intent is its universe's key, `general_help` for the default universe).
Their vectors are computed once per distinct set of universes (and examples) and cached, so a
universe registered later is learnt on the first question that can route to it.
Call `route` off the event loop: it may embed the question (a few ms) and, once a minute, read
the knowledge base's category list.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, replace

import numpy as np
import structlog
from django.conf import settings

from chat.reply.routing import Route
from chat.reply.universes import DEFAULT_UNIVERSE, Universe, universe_list
from chat.signals import Asker
from knowledge import embeddings, selectors
from knowledge.search.lexical import tokenize

log = structlog.get_logger(__name__)

TOP_K = 1  # nearest neighbour: the most robust vote on the dev set (bench/routing_eval.py)
LEXICAL_FLOOR_RATIO = 0.6
RULE_CONFIDENCE = 1.0
CATEGORY_TTL_SECONDS = 60.0
MAX_CACHED_SETS = 16
DEFAULT_INTENT = "general_help"
EXAMPLE = re.compile(r"^([a-z][a-z0-9_]*):\s+(\S.*)$", re.DOTALL)

# (universe, intent, pattern), first match wins. Certain phrasings only: the rest is the model's.
_SITE_NOUNS = (
    r"page|pages|section|menu|button|link|links|tab|dashboards?|charts?|articles?|form|"
    r"settings|login|log in|sign in|contact details|home ?page|help center|help centre|faq"
)
RULES: tuple[tuple[str, str, re.Pattern], ...] = tuple(
    (universe, intent, re.compile(pattern, re.IGNORECASE))
    for universe, intent, pattern in (
        (
            "account",
            "account",
            r"\bmy (own )?(account|profile|usage|quotas?|limits?|daily limit|conversations?|"
            r"chats?|chat history|history|message history|sign ?up date|membership)\b"
            r"|\bhow many (messages|questions|tokens|conversations|chats)\b.*\b(i|me)\b"
            r"|\b(messages|questions|tokens) (do i have )?(left|remaining)\b"
            r"|\bwhen did i (sign up|join|register|create)\b|\bmember since\b",
        ),
        (
            "navigation",
            "navigation_help",
            r"\b(broken|dead|bad|wrong) (link|url)s?\b|\b(link|url)s?\b.*\b(broken|dead|"
            r"(does not|doesn't|did not|didn't|won't) (work|open|load))\b"
            r"|\b404\b|\bpage (was )?not found\b|\bnot found page\b"
            r"|\bpage (that )?(doesn't|does not|didn't|did not) (exist|load|open)\b"
            r"|\b(which|what) page\b|\bon (this|which|what) page\b|\btake me to\b"
            r"|\bhow (do|can) i (get|go) (back )?to\b"
            rf"|\bwhere\b.*\b({_SITE_NOUNS})\b"
            rf"|\b(link|url) (to|for) the\b.*\b({_SITE_NOUNS})\b",
        ),
        (
            "services",
            "provider_question",
            r"\b(as an?|i am an?|i'm an?|become an?|becoming an?|join as an?) (service )?"
            r"(provider|partner|reseller|freelancer)\b|\bproviders? (get|receive|set|are|can)\b"
            r"|\bpayouts?\b|\bcommission\b",
        ),
        (
            "services",
            "service_inquiry",
            r"\b(price|prices|pricing|priced|cost|costs|costing|fee|fees|quote|invoice|invoices|"
            r"discount|discounts|refund|vat|cheaper|expensive|affordable|subscription|subscribe|"
            r"free trial|paid plan|support plan|pricing plan|plans)\b"
            r"|\bhow much (does|do|is|are|would|will|for)\b(?!.*\b(store|keep|know|collect|data)\b)"
            r"|\b(is|it's|it is|are they) (it |this |that |concierge |the \w+ )?(free|paid)\b"
            r"|\bbook (a|an|the|my) (call|session|slot|appointment|setup|installation)\b",
        ),
    )
)

# Web apps the help center answers about: a question naming one is about that app, not this site,
# so no rule fires, and its category is the app's.
APP_CATEGORIES: dict[str, tuple[str, ...]] = {
    "Gmail": ("gmail",),
    "Google Docs / Drive / Sheets": (
        "google docs?",
        "google drive",
        "google sheets?",
        "google spreadsheets?",
        "spreadsheets?",
    ),
    "YouTube": ("youtube",),
    "Facebook": ("facebook",),
    "Trello": ("trello",),
    "Google Search": ("google search", "google results", "googling"),
    "Dropbox": ("dropbox",),
    "Twitter": ("twitter", "tweets?"),
    "GitHub": ("github",),
    "Wolfram Alpha": ("wolfram",),
    "Google Maps": ("google maps?",),
    "Google Hangouts / Chat": ("hangouts?", "google chat"),
    "Google Account / Groups": ("google account", "google groups?"),
    "Quora": ("quora",),
    "Google Calendar": ("google calendar",),
    "Vimeo": ("vimeo",),
}
_APP_PATTERNS = tuple(
    (category, re.compile(rf"\b({'|'.join(aliases)})\b", re.IGNORECASE))
    for category, aliases in APP_CATEGORIES.items()
)
_OTHER_APPS = re.compile(
    r"\b(google|instagram|whatsapp|linkedin|outlook|hotmail|yahoo|icloud|slack|reddit|tiktok|"
    r"netflix|amazon|ebay|paypal|spotify|skype|zoom)\b",
    re.IGNORECASE,
)
INTENT_CATEGORIES = {"account": "Account", "service_inquiry": "Services and pricing"}


# --- Examples: parsed, embedded, cached per set of universes -----------------------------------


def example_parse(example: str, *, universe: str) -> tuple[str, str]:
    """`"intent: question"` -> (intent, question); a plain question gets the universe's intent."""
    match = EXAMPLE.match(example.strip())
    if match:
        return match.group(1), match.group(2).strip()
    return (DEFAULT_INTENT if universe == DEFAULT_UNIVERSE else universe), example.strip()


@dataclass(frozen=True)
class ExampleSet:
    """The examples of one set of universes, as rows: universe, intent, vector."""

    universes: tuple[str, ...]
    intents: tuple[str, ...]
    questions: tuple[str, ...]
    vectors: np.ndarray  # (rows, dims), unit rows: dense embeddings or TF-IDF
    mode: str  # "embedding" or "lexical"
    vocabulary: dict[str, int] | None = None  # lexical only
    idf: np.ndarray | None = None  # lexical only

    def query_vector(self, question: str) -> np.ndarray | None:
        if self.mode == "embedding":
            return embeddings.encode_query(question)
        return _tfidf(tokenize(question), self.vocabulary, self.idf)


EVERYONE = Asker(user_id=0, visitor_key="", kind="staff")  # an asker every universe is open to
_sets: OrderedDict[tuple, ExampleSet] = OrderedDict()
_sets_lock = threading.Lock()


def examples_for(universes: list[Universe]) -> ExampleSet | None:
    """The cached example set of `universes` (built on first use); None when none has examples."""
    dense = embeddings.available()
    key = (dense, tuple(sorted((u.key, u.examples) for u in universes)))
    with _sets_lock:
        cached = _sets.get(key)
        if cached is not None:
            _sets.move_to_end(key)
            return cached
    rows = [(u.key, *example_parse(e, universe=u.key)) for u in universes for e in u.examples]
    if not rows:
        return None
    started = time.perf_counter()
    built = _dense_set(rows) if dense else None
    built = built or _lexical_set(rows)
    log.info(
        "router_examples_built",
        universes=len(universes),
        examples=len(rows),
        mode=built.mode,
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    with _sets_lock:
        _sets[key] = built
        while len(_sets) > MAX_CACHED_SETS:
            _sets.popitem(last=False)
    return built


def warm_up() -> None:
    """Build the example vectors of each audience's universes now rather than on a first question
    (a second or more on a shared CPU): call it where the process warms up search."""
    for asker in (None, Asker(user_id=0, visitor_key="", kind="user"), EVERYONE):
        examples_for(_candidates(universe_list(asker)))


def examples_clear() -> None:
    """Forget every cached example set (tests that switch the model on and off use this)."""
    with _sets_lock:
        _sets.clear()


def _dense_set(rows: list[tuple[str, str, str]]) -> ExampleSet | None:
    """Embed the examples with search's loaded model (an entry of title only: its query vector)."""
    vectors = embeddings.encode_entries([(question, "", "") for _, _, question in rows])
    if vectors is None:
        return None
    universes, intents, questions = zip(*rows, strict=True)
    return ExampleSet(universes, intents, questions, vectors, "embedding")


def _lexical_set(rows: list[tuple[str, str, str]]) -> ExampleSet:
    universes, intents, questions = zip(*rows, strict=True)
    documents = [tokenize(q) for q in questions]
    vocabulary = {term: i for i, term in enumerate(sorted({t for d in documents for t in d}))}
    frequency = Counter(t for d in documents for t in set(d))
    idf = np.array(
        [math.log((1 + len(documents)) / (1 + frequency[t])) + 1 for t in vocabulary],
        dtype=np.float32,
    )
    vectors = np.stack([_tfidf(d, vocabulary, idf) for d in documents])
    return ExampleSet(universes, intents, questions, vectors, "lexical", vocabulary, idf)


def _tfidf(terms: list[str], vocabulary: dict[str, int], idf: np.ndarray) -> np.ndarray:
    vector = np.zeros(len(vocabulary), dtype=np.float32)
    for term, count in Counter(terms).items():
        if term in vocabulary:
            vector[vocabulary[term]] = count * idf[vocabulary[term]]
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


# --- The router -------------------------------------------------------------------------------


def route(question: str, *, page: dict | None = None, universes: list[Universe]) -> Route:
    """Route `question` among `universes` (those open to the asker); see the module docstring."""
    started = time.perf_counter()
    open_keys = {u.key for u in universes}
    candidates = _candidates(universes)
    found = _by_rules(question) or _by_examples(question, candidates)
    found = _within(_with_category(found, question, candidates), open_keys)
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


def _by_rules(question: str) -> Route | None:
    if _names_an_app(question):
        return None
    for universe, intent, pattern in RULES:
        if pattern.search(question):
            return Route(universe, intent, confidence=RULE_CONFIDENCE, method="rules")
    return None


def _names_an_app(question: str) -> bool:
    return _app_category(question) != "" or _OTHER_APPS.search(question) is not None


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
    return _with_category(on_the_way, question, candidates)


# --- The knowledge category --------------------------------------------------------------------


def _with_category(found: Route, question: str, universes: list[Universe]) -> Route:
    known = _known_categories()
    by_universe = next((u.category for u in universes if u.key == found.universe), "")
    for category in (
        _app_category(question),
        by_universe,
        INTENT_CATEGORIES.get(found.intent, ""),
        _named_category(question, known),
    ):
        if category and category.casefold() in known:
            return Route(
                found.universe,
                found.intent,
                known[category.casefold()],
                found.confidence,
                found.method,
            )
    return found


def _app_category(question: str) -> str:
    return next((category for category, p in _APP_PATTERNS if p.search(question)), "")


def _named_category(question: str, known: dict[str, str]) -> str:
    """A category whose whole name the question contains ("privacy", "contact")."""
    text = question.casefold()
    return next(
        (name for folded, name in known.items() if re.search(rf"\b{re.escape(folded)}\b", text)),
        "",
    )


_categories: dict[str, object] = {"at": -math.inf, "known": {}}


def _known_categories() -> dict[str, str]:
    """The knowledge base's categories (casefolded -> as stored), read at most once a minute."""
    if time.monotonic() - _categories["at"] < CATEGORY_TTL_SECONDS:
        return _categories["known"]
    try:
        known = {name.casefold(): name for name in selectors.category_list()}
    except Exception:  # noqa: BLE001 - no database here (an async caller): keep what we had
        log.warning("router_categories_unavailable", exc_info=True)
        _categories["at"] = time.monotonic()
        return _categories["known"]
    _categories.update(at=time.monotonic(), known=known)
    return known


def categories_clear() -> None:
    """Read the categories again on the next question (tests that add entries use this)."""
    _categories.update(at=-math.inf, known={})
