"""Lexical search on PostgreSQL: full-text search over the stored, GIN-indexed `search_vector`."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db.models import F

from knowledge.models import KnowledgeBaseEntry
from knowledge.search.lexical import words

CONFIG = "english"
CANDIDATES = 100


def search_vector_expression() -> SearchVector:
    """The document side: title and keywords weigh more than the body."""
    return (
        SearchVector("title", weight="A", config=CONFIG)
        + SearchVector("keywords", weight="A", config=CONFIG)
        + SearchVector("body", weight="B", config=CONFIG)
    )


def query_for(text: str) -> SearchQuery | None:
    """Any of the question's words (OR): visitors' questions rarely share every word."""
    terms = sorted(set(words(text)))
    if not terms:
        return None
    return SearchQuery(" | ".join(terms), search_type="raw", config=CONFIG)


def ranked_ids(
    text: str, *, category: str | None = None, among: Sequence[int] | None = None
) -> list[tuple[int, float]]:
    """Return (entry id, ts_rank) of the best matching active entries, best first.

    `among` limits the ranking to these entries (the dense candidates): ranking every entry
    that shares one common word with the question reads thousands of tsvectors on a big KB.
    """
    query = query_for(text)
    if query is None:
        return []
    entries = KnowledgeBaseEntry.objects.filter(is_active=True, search_vector=query)
    if among is not None:
        entries = entries.filter(pk__in=list(among))
    if category:
        entries = entries.filter(category__iexact=category.strip())
    ranked = entries.annotate(rank=SearchRank(F("search_vector"), query)).order_by("-rank", "pk")
    return [(pk, float(rank)) for pk, rank in ranked.values_list("pk", "rank")[:CANDIDATES]]
