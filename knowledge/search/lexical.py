"""Lexical matching: a tokenizer shared by every backend, and an in-process BM25 index.

The BM25 index keeps each term's postings (the entries it occurs in, with their precomputed
weights) as numpy arrays, so scoring a query adds up a few short arrays; no sparse-matrix library.
Its score is divided by the query's upper bound (every query term at
saturation), which puts it in [0, 1] whatever the size of the knowledge base.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

TOKEN = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    """a about after all also am an and any are as at be been being but by can could did do
    does doing done for from get got had has have having he her here hers him his how i if in
    into is it its just me more most my no nor not of off on once only or other our out over
    own same she should so some such than that the their them then there these they this those
    through to too under until up very was we were what when where which while who whom why
    will with would you your yours""".split()
)
SUFFIXES = ("ingly", "edly", "ing", "ies", "ied", "ed", "es", "s")


def stem(word: str) -> str:
    """Strip a common English suffix, then a final e (delete, deleted, deleting -> delet)."""
    for suffix in SUFFIXES:
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:-1] if len(word) > 3 and word.endswith("e") else word


def words(text: str) -> list[str]:
    """Lower-case words without stopwords, unstemmed (PostgreSQL stems them itself)."""
    return [w for w in TOKEN.findall(text.lower()) if w not in STOPWORDS]


def tokenize(text: str) -> list[str]:
    return [stem(w) for w in words(text)]


def coverage(query_terms: Sequence[str], text: str) -> float:
    """Share of the query's distinct terms that `text` contains: a calibrated [0, 1] relevance."""
    wanted = set(query_terms)
    if not wanted:
        return 0.0
    return len(wanted & set(tokenize(text))) / len(wanted)


class BM25Index:
    """Okapi BM25 over a fixed list of documents (rebuild it when the documents change)."""

    def __init__(self, documents: Sequence[str], *, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.vocabulary: dict[str, int] = {}
        rows: list[int] = []
        columns: list[int] = []
        counts: list[int] = []
        lengths = np.zeros(len(documents), dtype=np.float32)
        for doc_index, document in enumerate(documents):
            tokens = tokenize(document)
            lengths[doc_index] = len(tokens)
            for term, count in Counter(tokens).items():
                term_index = self.vocabulary.setdefault(term, len(self.vocabulary))
                rows.append(term_index)
                columns.append(doc_index)
                counts.append(count)
        self.idf, weights = self._weights(rows, columns, counts, lengths, len(documents), b)
        self.n_docs = len(documents)
        self.postings = self._postings(rows, columns, weights)

    def _postings(self, rows, columns, weights) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each term, the documents it occurs in and its weight in each."""
        rows_a = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows_a, kind="stable")
        bounds = np.searchsorted(rows_a[order], np.arange(len(self.vocabulary) + 1))
        docs = np.asarray(columns, dtype=np.int64)[order]
        values = np.asarray(weights, dtype=np.float32)[order]
        return [
            (docs[bounds[t] : bounds[t + 1]], values[bounds[t] : bounds[t + 1]])
            for t in range(len(self.vocabulary))
        ]

    def _weights(self, rows, columns, counts, lengths, n_docs, b):
        rows_a = np.asarray(rows, dtype=np.int64)
        columns_a = np.asarray(columns, dtype=np.int64)
        tf = np.asarray(counts, dtype=np.float32)
        df = np.bincount(rows_a, minlength=len(self.vocabulary)).astype(np.float32)
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        average = float(lengths.mean()) if n_docs and lengths.mean() > 0 else 1.0
        norm = self.k1 * (1 - b + b * lengths[columns_a] / average) if n_docs else 0
        return idf, (idf[rows_a] * tf * (self.k1 + 1) / (tf + norm)).astype(np.float32)

    def scores(self, query: str) -> np.ndarray:
        """Normalised BM25 of every document for `query`, in [0, 1]."""
        terms = [self.vocabulary[t] for t in set(tokenize(query)) if t in self.vocabulary]
        raw = np.zeros(self.n_docs, dtype=np.float32)
        if not terms:
            return raw
        for term in terms:
            docs, weights = self.postings[term]
            np.add.at(raw, docs, weights)
        upper = float(self.idf[terms].sum()) * (self.k1 + 1)
        return raw / upper if upper > 0 else raw
