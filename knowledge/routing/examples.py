"""The router's labelled examples: parsed, embedded (or TF-IDF without the model), cached.

An example is a plain question, or `intent: question` to give a finer intent than its universe's
(an unlabelled example's intent is its universe's key, `general_help` for the default universe).
The vectors of a set of universes are built once, on first use, and kept for the set (and its
examples): a universe registered later makes a new set, learnt on the first question that can
reach it.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass

import numpy as np
import structlog

from chat.reply.universes import DEFAULT_UNIVERSE, Universe
from knowledge import embeddings
from knowledge.search.lexical import tokenize

log = structlog.get_logger(__name__)

MAX_CACHED_SETS = 16
DEFAULT_INTENT = "general_help"
EXAMPLE = re.compile(r"^([a-z][a-z0-9_]*):\s+(\S.*)$", re.DOTALL)


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
