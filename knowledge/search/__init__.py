"""Hybrid search over the knowledge base, and the retriever chat calls.

Ranking (measured in bench/knowledge.md): the dense similarity of the question to each entry,
plus a small lexical term (normalised BM25, or PostgreSQL's ts_rank scaled to the best match)
that breaks near-ties; then one answer per question first (entries sharing a title are answers
to the same question), the other answers after. Nothing is returned under the relevance
threshold: the dense similarity (`KNOWLEDGE_MIN_SCORE`), or, when search is lexical only, the
share of the question's words an entry contains (`KNOWLEDGE_MIN_LEXICAL_COVERAGE`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import structlog
from django.conf import settings
from django.urls import reverse

from chat.reply.retrieval import Passage
from knowledge import embeddings
from knowledge.models import KnowledgeBaseEntry
from knowledge.search import postgres
from knowledge.search.index import KnowledgeIndex, get_index
from knowledge.search.lexical import coverage, tokenize

log = structlog.get_logger(__name__)

LEXICAL_WEIGHT = 0.1
CANDIDATES = 50
LEXICAL_CANDIDATES = 200


@dataclass(frozen=True)
class SearchHit:
    """One matching entry: `score` orders the hits, `relevance` passed the threshold."""

    entry: KnowledgeBaseEntry
    score: float
    relevance: float
    mode: str  # "hybrid", or "lexical" without the embedding model


@dataclass(frozen=True)
class KnowledgePassage(Passage):
    """A Passage plus what the help center must show with it."""

    attribution: str = ""
    search_mode: str = "hybrid"


def entry_search(query: str, *, category: str | None = None, limit: int = 5) -> list[SearchHit]:
    """Return the best active entries for `query`, best first; [] when none is relevant."""
    if not query.strip() or limit <= 0:
        return []
    started = time.perf_counter()
    index = get_index()
    hits = _search(index, query, category=category, limit=limit) if index.size else []
    log.debug(
        "knowledge_search",
        results=len(hits),
        category=category or "",
        mode="hybrid" if index.dense else "lexical",
        ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return hits


def _search(index: KnowledgeIndex, query: str, *, category, limit) -> list[SearchHit]:
    vector = embeddings.encode_query(query) if index.dense else None
    dense = embeddings.similarities(index.vectors, vector) if vector is not None else None
    mask = index.category_mask(category)
    if dense is not None and mask is not None:
        dense = np.where(mask, dense, -np.inf)
    lexical = _lexical_scores(index, query, category, dense)
    fused = lexical if dense is None else dense + LEXICAL_WEIGHT * lexical
    if mask is not None:
        fused = np.where(mask, fused, -np.inf)
    rows = _one_answer_per_question(index, fused, max(CANDIDATES, limit * 4))
    if dense is not None:
        threshold = settings.KNOWLEDGE_MIN_SCORE
        rows = [(r, float(fused[r]), float(dense[r])) for r in rows if dense[r] >= threshold]
        return _hits(index, rows[:limit], mode="hybrid")
    rows = [r for r in rows if lexical[r] > 0]
    return _lexical_hits(index, query, rows, limit)


def _lexical_scores(index: KnowledgeIndex, query: str, category, dense) -> np.ndarray:
    """Lexical scores in [0, 1]: BM25 in process, or PostgreSQL's ts_rank.

    On PostgreSQL with vectors, only the dense candidates are ranked: the lexical term (weight
    0.1) can reorder near-ties, never lift an entry from far below them.
    """
    if index.bm25 is not None:
        return index.bm25.scores(query)
    scores = np.zeros(index.size, dtype=np.float32)
    among = None
    if dense is not None:
        count = min(LEXICAL_CANDIDATES, index.size)
        among = index.ids[np.argpartition(-dense, count - 1)[:count]].tolist()
    ranked = postgres.ranked_ids(query, category=category, among=among)
    best = ranked[0][1] if ranked else 0.0
    for pk, rank in ranked:
        row = index.rows.get(pk)
        if row is not None and best > 0:
            scores[row] = rank / best
    return scores


def _one_answer_per_question(index: KnowledgeIndex, scores: np.ndarray, k: int) -> list[int]:
    """Top rows by score, the best answer of each question first, then the other answers."""
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.isfinite(scores[top])]
    top = top[np.lexsort((index.ids[top], -scores[top]))]
    seen: set[int] = set()
    first, rest = [], []
    for row in top.tolist():
        group = int(index.groups[row])
        (rest if group in seen else first).append(row)
        seen.add(group)
    return first + rest


def _lexical_hits(index: KnowledgeIndex, query: str, rows: list[int], limit: int):
    """Without vectors, keep the entries that contain enough of the question's words."""
    terms = tokenize(query)
    threshold = settings.KNOWLEDGE_MIN_LEXICAL_COVERAGE
    entries = _entries([int(index.ids[r]) for r in rows])
    hits = []
    for pk in (int(index.ids[r]) for r in rows):
        entry = entries.get(pk)
        if entry is None:
            continue
        share = coverage(terms, f"{entry.title}\n{entry.keywords}\n{entry.body}")
        if share >= threshold:
            hits.append(SearchHit(entry=entry, score=share, relevance=share, mode="lexical"))
        if len(hits) >= limit:
            break
    return hits


def _hits(index: KnowledgeIndex, rows: list[tuple[int, float, float]], *, mode: str):
    entries = _entries([int(index.ids[r]) for r, _, _ in rows])
    return [
        SearchHit(entry=entries[pk], score=score, relevance=relevance, mode=mode)
        for pk, score, relevance in ((int(index.ids[r]), s, d) for r, s, d in rows)
        if pk in entries
    ]


def _entries(ids: list[int]) -> dict[int, KnowledgeBaseEntry]:
    if not ids:
        return {}
    fields = ("pk", "title", "body", "keywords", "category", "url", "attribution", "source")
    return KnowledgeBaseEntry.objects.only(*fields).in_bulk(ids)


def entry_url(entry: KnowledgeBaseEntry) -> str:
    """The help-center page that shows the entry (the source link)."""
    return reverse("knowledge:entry", kwargs={"pk": entry.pk})


def retrieve_passages(query: str, *, category: str | None = None, limit: int = 3) -> list[Passage]:
    """The chat retriever (settings.CHAT_RETRIEVER): see chat/reply/retrieval.py for the contract.

    No two passages share a title: StackFAQ has several answers to one question, and a visitor
    should see the best one as a source, not three links that read the same.
    """
    hits = distinct_titles(entry_search(query, category=category, limit=limit * 3), limit)
    return [
        KnowledgePassage(
            id=str(hit.entry.pk),
            title=hit.entry.title,
            url=entry_url(hit.entry),
            body=hit.entry.body,
            score=round(hit.score, 4),
            category=hit.entry.category,
            attribution=hit.entry.attribution,
            search_mode=hit.mode,
        )
        for hit in hits
    ]


# Started as soon as a question is accepted (chat/reply/retrieval.py `prepare`): its embedding is
# made while the question is being stored, and the router and the search above find it cached.
retrieve_passages.prepare = embeddings.encode_query_soon


def distinct_titles(hits: list[SearchHit], limit: int) -> list[SearchHit]:
    """The best hit of each title, best first, at most `limit`."""
    seen: set[str] = set()
    kept = []
    for hit in hits:
        title = " ".join(hit.entry.title.lower().split())
        if title not in seen:
            seen.add(title)
            kept.append(hit)
    return kept[:limit]


def embed_texts(texts: list[str]):
    """Unit vectors of `texts` with the search's own model (settings.CHAT_EMBEDDER: chat's
    groundedness check and small prompt profile use it); None when dense search is off."""
    if not embeddings.available():
        return None
    return embeddings.encode_queries(texts)  # in one pass, not one per sentence


def warm_up() -> dict:
    """Load the model and build the index now rather than on the first question; return status."""
    get_index()
    embeddings.encode_query("warm up")
    return status()


def status() -> dict:
    """For health checks: is dense search on, and how big is the index."""
    index = get_index()
    return {
        "entries": index.size,
        "mode": "hybrid" if index.dense else "lexical",
        "lexical": "postgresql" if index.bm25 is None else "bm25",
        "dense_unavailable_reason": "" if index.dense else embeddings.unavailable_reason(),
        "version": index.version,
    }
