"""Counting and cutting tokens for prompt budgets.

The configured model's own tokenizer is used where one is at hand: for the embedded llama.cpp
model, the GGUF file's vocabulary (loaded vocabulary-only by llama-cpp-python: a few MB, no
weights). Elsewhere (hosted models, whose tokenizers are not shipped) the count is the documented
estimate of four characters a token, which over-counts English prose slightly: budgets are
guards, not limits the provider enforces.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable

import structlog
from django.conf import settings

from chat.providers.base import estimate_tokens

log = structlog.get_logger(__name__)

Counter = Callable[[str], int]
_lock = threading.Lock()
_local: dict[str, Counter | None] = {}


def counter_for(model: str) -> Counter:
    """A token counter for `model`: its tokenizer when we have it, else the estimate."""
    if model != settings.LOCAL_MODEL_ALIAS:
        return estimate_tokens
    with _lock:
        if model not in _local:
            _local[model] = _gguf_counter()
    return _local[model] or estimate_tokens


def counter_loaded(model: str) -> Counter | None:
    """The counter for `model` if it needs no loading now (None: call `counter_for` off the
    event loop)."""
    if model != settings.LOCAL_MODEL_ALIAS:
        return estimate_tokens
    if model in _local:
        return _local[model] or estimate_tokens
    return None


def _gguf_counter() -> Counter | None:
    """Count with the GGUF file's own vocabulary (llama.cpp's low-level API, vocabulary only:
    no weights, no context; about 0.5 ms for 1,500 characters)."""
    try:
        import llama_cpp  # noqa: PLC0415 - optional: only the embedded model has a GGUF here

        from chat.local_model import gguf_path  # noqa: PLC0415

        llama_cpp.llama_log_set(_silence(llama_cpp), ctypes.c_void_p(0))
        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        model = llama_cpp.llama_model_load_from_file(str(gguf_path()).encode(), params)
        if not model:
            raise RuntimeError("llama.cpp could not read the GGUF vocabulary")
        vocab = llama_cpp.llama_model_get_vocab(model)
    except Exception as exc:  # noqa: BLE001 - no tokenizer: fall back to the estimate
        log.info("tokenizer_unavailable", model=settings.LOCAL_MODEL_ALIAS, reason=str(exc))
        return None

    def count(text: str) -> int:
        if not text:
            return 0
        data = text.encode("utf-8", "ignore")
        room = len(data) + 8  # a token is at least one byte
        tokens = (llama_cpp.llama_token * room)()
        return max(0, llama_cpp.llama_tokenize(vocab, data, len(data), tokens, room, False, False))

    _keep.append(model)  # the vocabulary lives as long as the process
    return count


_keep: list = []
_quiet = None


def _silence(llama_cpp):
    """A log callback that drops llama.cpp's loader chatter (kept alive for the process)."""
    global _quiet
    if _quiet is None:
        _quiet = llama_cpp.llama_log_callback(lambda level, text, user_data: None)
    return _quiet


def cut_to_tokens(text: str, budget: int, count: Counter = estimate_tokens) -> str:
    """Cut `text` to at most `budget` tokens, at a word boundary, marking the cut with "…"."""
    if budget <= 0:
        return ""
    used = count(text)
    if used <= budget:
        return text
    cut = text
    for _ in range(6):  # shrink in proportion, then to the last whole word, until it fits
        keep = max(1, int(len(cut) * budget / max(used, 1) * 0.97))
        cut = cut[:keep].rsplit(" ", 1)[0].rstrip() if " " in cut[:keep] else cut[:keep]
        used = count(cut + " …")
        if used <= budget:
            break
    return cut + " …" if cut else ""
