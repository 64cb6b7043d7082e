"""How chat asks the site's knowledge for passages, without depending on the knowledge app.

`settings.CHAT_RETRIEVER` is the dotted path of a function
`retrieve(query: str, *, category: str | None = None, limit: int = 3) -> list[Passage]`
(the knowledge app provides one). Unset, chat runs ungrounded. The function may carry
`prepare(query: str) -> None`, called on the event loop as soon as a question is accepted, before
it is stored: it must return at once and should not raise (the knowledge app starts embedding
the query there).
`settings.CHAT_KNOWLEDGE_VERSION` names `kb_version() -> str`, a stamp that changes whenever the
knowledge does (the response cache keys on it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import structlog
from django.conf import settings
from django.utils.module_loading import import_string

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Passage:
    """A piece of the knowledge base that may ground a reply."""

    id: str
    title: str
    url: str
    body: str
    score: float
    category: str = ""
    attribution: str = ""  # the licence line a quoted passage must carry (StackFAQ's CC BY-SA)

    def as_source(self) -> dict[str, str]:
        return {"id": self.id, "title": self.title, "url": self.url}


Retriever = Callable[..., list[Passage]]


@cache
def _retriever(path: str) -> Retriever | None:
    return import_string(path) if path else None


def retrieve(query: str, *, category: str | None = None, limit: int = 3) -> list[Passage]:
    """Return the best passages for `query`, best first; empty when none clear the threshold."""
    retriever = _retriever(getattr(settings, "CHAT_RETRIEVER", ""))
    if retriever is None or not query.strip():
        return []
    return retriever(query, category=category, limit=limit)


def prepare(query: str) -> None:
    """Let the retriever start on `query` while the question is stored (see the module's text).
    Never raises: a head start that fails is logged, and the question goes on without it (the
    retrieval itself reports what is wrong)."""
    try:
        retriever = _retriever(getattr(settings, "CHAT_RETRIEVER", ""))
        prepare_query = getattr(retriever, "prepare", None)
        if prepare_query is not None and query.strip():
            prepare_query(query)
    except Exception:  # noqa: BLE001 - an optimisation must never refuse a question
        log.exception("retrieval_prepare_failed")


def knowledge_version() -> str:
    """A stamp of the knowledge base's state; "" without a knowledge app."""
    version = _retriever(getattr(settings, "CHAT_KNOWLEDGE_VERSION", ""))
    return version() if version is not None else ""
