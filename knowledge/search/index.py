"""The in-process search index: a matrix of entry vectors plus, off PostgreSQL, a BM25 index.

It is rebuilt only when `stamps.entries_version()` changes, under a lock, and swapped in
whole, so readers never see half an index. The version is read at most once per
`KNOWLEDGE_INDEX_CHECK_SECONDS` (an aggregate query costs about a millisecond, more under load);
writes through knowledge.services mark the index stale at once in their own process, so only
edits made by another process can take that long to show.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import structlog
from django.conf import settings
from django.db import connection

from knowledge import embeddings
from knowledge.models import KnowledgeBaseEntry
from knowledge.search.lexical import BM25Index
from knowledge.stamps import entries_version, stamps_forget

log = structlog.get_logger(__name__)

_lock = threading.Lock()
_current: dict[str, KnowledgeIndex] = {}
_checked_at: dict[str, float] = {}


@dataclass(frozen=True)
class KnowledgeIndex:
    """Active entries, row by row: ids, question groups, categories, vectors, lexical index."""

    version: str
    ids: np.ndarray
    groups: np.ndarray  # entries with the same (normalised) title answer the same question
    categories: np.ndarray
    category_codes: dict[str, int]
    vectors: Any  # embeddings.search_matrix(); None: no model, search is lexical only
    bm25: BM25Index | None  # None on PostgreSQL, where full-text search runs in the database
    rows: dict[int, int] = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.ids)

    @property
    def dense(self) -> bool:
        return self.vectors is not None

    def category_mask(self, category: str | None) -> np.ndarray | None:
        if not category:
            return None
        code = self.category_codes.get(category.strip().casefold(), -1)
        return self.categories == code


def uses_database_fts() -> bool:
    return connection.vendor == "postgresql"


def get_index() -> KnowledgeIndex:
    """Return the index for the current knowledge-base version, rebuilding it when stale."""
    alias = connection.alias
    index = _current.get(alias)
    interval = getattr(settings, "KNOWLEDGE_INDEX_CHECK_SECONDS", 1.0)
    if index is not None and time.monotonic() - _checked_at.get(alias, -1e9) < interval:
        return index
    version = entries_version()
    _checked_at[alias] = time.monotonic()
    if index is not None and index.version == version:
        return index
    with _lock:
        index = _current.get(connection.alias)
        if index is None or index.version != version:
            index = build_index(version)
            _current[connection.alias] = index
    return index


def mark_stale() -> None:
    """Make the next search compare the version stamp (called after every write)."""
    _checked_at.clear()
    stamps_forget()


def clear() -> None:
    with _lock:
        _current.clear()
        _checked_at.clear()


def build_index(version: str) -> KnowledgeIndex:
    """Build the index from the stored entries. A read: entries whose stored vector is missing or
    from another model are embedded in memory here; storing them is the writes' job
    (`knowledge.services`: imports, saves, `manage.py reindex_knowledge`)."""
    started = time.monotonic()
    rows = list(
        KnowledgeBaseEntry.objects.filter(is_active=True)
        .order_by("pk")
        .values_list("pk", "title", "category", "keywords", "body", "embedding", "embedding_model")
    )
    index = _assemble(version, rows)
    log.info(
        "knowledge_index_built",
        entries=index.size,
        dense=index.dense,
        lexical="postgresql" if index.bm25 is None else "bm25",
        ms=round((time.monotonic() - started) * 1000),
    )
    return index


def _assemble(version: str, rows: list[tuple]) -> KnowledgeIndex:
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    group_codes: dict[str, int] = {}
    groups = np.array(
        [group_codes.setdefault(" ".join(r[1].casefold().split()), len(group_codes)) for r in rows],
        dtype=np.int64,
    )
    category_codes: dict[str, int] = {}
    categories = np.array(
        [category_codes.setdefault(r[2].strip().casefold(), len(category_codes)) for r in rows],
        dtype=np.int64,
    )
    bm25 = None if uses_database_fts() else BM25Index([_lexical_text(r) for r in rows])
    return KnowledgeIndex(
        version=version,
        ids=ids,
        groups=groups,
        categories=categories,
        category_codes=category_codes,
        vectors=_vectors(rows),
        bm25=bm25,
        rows={int(pk): i for i, pk in enumerate(ids)},
    )


def _lexical_text(row: tuple) -> str:
    _, title, _, keywords, body, _, _ = row
    return f"{title}\n{keywords}\n{body}"


def _vectors(rows: list[tuple]) -> np.ndarray | None:
    if not embeddings.available():
        return None
    matrix = np.zeros((len(rows), embeddings.DIMENSIONS), dtype=np.float32)
    stale = []
    for i, row in enumerate(rows):
        vector = embeddings.from_bytes(row[5]) if row[6] == embeddings.RECIPE else None
        if vector is None:
            stale.append(i)
        else:
            matrix[i] = vector
    if stale:
        fresh = embeddings.encode_entries([(rows[i][1], rows[i][4], rows[i][3]) for i in stale])
        if fresh is not None:
            matrix[stale] = fresh
        log.warning(
            "knowledge_index_embedded_in_memory",
            entries=len(stale),
            hint="store them: manage.py reindex_knowledge",
        )
    return embeddings.search_matrix(matrix)
