"""The router's certain part: phrase rules, and the knowledge category of a question.

Rules name the demo universes only (knowledge.universes); a question that names another web app
(Gmail, Trello, ...) is about that app, so no rule fires for it, and its category is the app's.
A category is chosen only when the knowledge base holds it (its list read at most once a minute).
"""

from __future__ import annotations

import math
import re
import time

import structlog

from chat.reply.routing import Route
from chat.reply.universes import Universe
from knowledge import selectors

log = structlog.get_logger(__name__)

RULE_CONFIDENCE = 1.0
CATEGORY_TTL_SECONDS = 60.0

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

# Web apps the StackFAQ help center answers about, by category.
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


def rule_route(question: str) -> Route | None:
    """The route a certain phrase gives (its universe may be closed to the asker), or None."""
    if names_an_app(question):
        return None
    for universe, intent, pattern in RULES:
        if pattern.search(question):
            return Route(universe, intent, confidence=RULE_CONFIDENCE, method="rules")
    return None


def names_an_app(question: str) -> bool:
    return _app_category(question) != "" or _OTHER_APPS.search(question) is not None


def with_category(found: Route, question: str, universes: list[Universe]) -> Route:
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
