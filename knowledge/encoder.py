"""A sentence-transformers BERT model (all-MiniLM-L6-v2) run in numpy: no PyTorch.

`SentenceEncoder(path).encode(texts)` returns what sentence-transformers'
`SentenceTransformer(path).encode(texts, normalize_embeddings=True)` returns, within float32
rounding (tests/knowledge/test_embeddings.py holds vectors that library computed, cosine >= 0.999):
the model's own tokenizer (`tokenizers`, from tokenizer.json) truncated at the model's
`max_seq_length`, the BERT encoder's forward pass, mean pooling over the real tokens, unit length.

It reads a sentence-transformers directory: config.json (a BERT encoder), model.safetensors,
tokenizer.json, sentence_bert_config.json and 1_Pooling/config.json (mean pooling). The weights are
memory-mapped read-only and used in place, never copied, so the server processes of one machine
share them through the OS's page cache; the word-embedding table (47 of the file's 91 MB) is not
even mapped in: the rows a text uses are read with pread(2). Other architectures or poolings
raise `EncoderError`, which turns dense search off with that reason. The forward pass is a
handful of matrix products per layer: numpy's BLAS does the work.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from knowledge.exceptions import KnowledgeError

MASKED = np.float32(-1e9)  # added to the attention scores of padding: exp() makes it exactly 0


class EncoderError(KnowledgeError):
    """The model directory is missing, or is not a mean-pooled BERT sentence-transformers model."""


@dataclass(frozen=True)
class _Layer:
    """One transformer layer's weights: views of the mapped file in torch's Linear layout
    (out, in), used as `x @ w.T` (BLAS reads the transpose in place: no copy, same speed)."""

    query: np.ndarray
    query_bias: np.ndarray
    key: np.ndarray
    key_bias: np.ndarray
    value: np.ndarray
    value_bias: np.ndarray
    attention_out: np.ndarray
    attention_out_bias: np.ndarray
    attention_norm: tuple[np.ndarray, np.ndarray]
    up: np.ndarray
    up_bias: np.ndarray
    down: np.ndarray
    down_bias: np.ndarray
    output_norm: tuple[np.ndarray, np.ndarray]


class SentenceEncoder:
    """Embed texts with a sentence-transformers BERT model directory; thread-safe once built."""

    name = "numpy"

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if not (path / "model.safetensors").is_file():
            raise EncoderError(f"no model.safetensors in {path}")
        config = _read_json(path / "config.json")
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise EncoderError(f"{path} is not a BERT model with GELU (the encoder's only shape)")
        _check_mean_pooling(path)
        self.dimensions = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.max_length = int(_read_json(path / "sentence_bert_config.json")["max_seq_length"])
        self.tokenizer = _tokenizer(path / "tokenizer.json", max_length=self.max_length)
        tensors = read_safetensors(path / "model.safetensors")
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in tensors else ""
        self._load_embeddings(path / "model.safetensors", tensors, prefix)
        self.layers = [
            _layer(tensors, f"{prefix}encoder.layer.{i}.")
            for i in range(int(config["num_hidden_layers"]))
        ]

    def _load_embeddings(self, path: Path, tensors: dict[str, np.ndarray], prefix: str) -> None:
        self.words = _FileRows(path, tensors[f"{prefix}embeddings.word_embeddings.weight"])
        self.positions = tensors[f"{prefix}embeddings.position_embeddings.weight"]
        self.token_type = np.array(tensors[f"{prefix}embeddings.token_type_embeddings.weight"][0])
        self.embedding_norm = (
            tensors[f"{prefix}embeddings.LayerNorm.weight"],
            tensors[f"{prefix}embeddings.LayerNorm.bias"],
        )

    def encode(self, texts: Sequence[str], *, batch_tokens: int = 2048) -> np.ndarray:
        """Return one unit-length float32 row per text, in order.

        Texts are sorted by token length (as sentence-transformers does), so padding stays
        short, and batched up to `batch_tokens` padded tokens: 8 texts of 256 tokens or 64
        short questions per forward pass, small enough to stay in the CPU's caches.
        """
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        vectors = np.empty((len(texts), self.dimensions), dtype=np.float32)
        for rows in _batches(order, [len(e.ids) for e in encodings], batch_tokens):
            ids, mask = _padded([encodings[i].ids for i in rows])
            vectors[rows] = self._pool(self._forward(ids, mask), mask)
        return vectors

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """BERT's encoder: (batch, tokens) ids -> (batch, tokens, hidden) last hidden states."""
        tokens = ids.shape[1]
        x = self.words.take(ids)
        x += self.positions[:tokens]
        x += self.token_type
        x = _layer_norm(x, *self.embedding_norm, self.eps)
        bias = np.where(mask[:, None, None, :] > 0, np.float32(0), MASKED)
        for layer in self.layers:
            x = self._layer_forward(layer, x, bias)
        return x

    def _layer_forward(self, layer: _Layer, x: np.ndarray, bias: np.ndarray) -> np.ndarray:
        batch, tokens, hidden = x.shape
        size = hidden // self.heads
        flat = x.reshape(batch * tokens, hidden)  # 2-D products: one BLAS call each
        q, k, v = (  # (batch, heads, tokens, size)
            _dense(flat, w, b).reshape(batch, tokens, self.heads, size).transpose(0, 2, 1, 3)
            for w, b in ((layer.query, layer.query_bias), (layer.key, layer.key_bias),
                         (layer.value, layer.value_bias))
        )  # fmt: skip
        scores = q @ k.transpose(0, 1, 3, 2)
        scores *= np.float32(1 / math.sqrt(size))
        scores += bias
        context = (_softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(batch * tokens, hidden)
        attended = _dense(context, layer.attention_out, layer.attention_out_bias)
        attended += flat
        flat = _layer_norm(attended, *layer.attention_norm, self.eps)
        out = _dense(_gelu(_dense(flat, layer.up, layer.up_bias)), layer.down, layer.down_bias)
        out += flat
        return _layer_norm(out, *layer.output_norm, self.eps).reshape(batch, tokens, hidden)

    @staticmethod
    def _pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Mean over the real tokens, then unit length (Pooling + Normalize)."""
        weights = mask[:, :, None].astype(np.float32)
        summed = (hidden * weights).sum(axis=1)
        means = summed / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(means, axis=1, keepdims=True)
        return means / np.maximum(norms, 1e-12)


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Map a .safetensors file read-only; return its tensors as numpy views (no copy).

    The format: an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
    shape and byte range, then the bytes.
    """
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    with path.open("rb") as file:
        data = np.frombuffer(mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ), dtype=np.uint8)
    size = int(data[:8].view("<u8")[0])
    header = json.loads(bytes(data[8 : 8 + size]))
    header.pop("__metadata__", None)
    tensors = {}
    for name, meta in header.items():
        if meta["dtype"] not in dtypes:
            raise EncoderError(f"{path.name}: tensor {name} has unsupported dtype {meta['dtype']}")
        begin, end = (8 + size + offset for offset in meta["data_offsets"])
        tensors[name] = data[begin:end].view(dtypes[meta["dtype"]]).reshape(meta["shape"])
    return tensors


class _FileRows:
    """A 2-D tensor of the file whose rows are read on demand with pread(2), never mapped.

    Mapped, the word-embedding table counted in each process's memory for every page a token's
    row touched (and the kernel maps neighbouring pages with it: 16 to 51 MB of the 47 MB table
    after the warm-up, depending on the page cache). Read, the rows stay in the OS's page cache,
    shared; a text's few dozen distinct tokens cost as many system calls, microseconds each.
    """

    def __init__(self, path: Path, view: np.ndarray) -> None:
        base = _mapping(view)
        start = view.__array_interface__["data"][0]
        self.offset = start - np.frombuffer(base, dtype=np.uint8).__array_interface__["data"][0]
        self.dtype = view.dtype
        self.width = view.shape[1]
        self.row_bytes = self.width * view.dtype.itemsize
        self.rows = view.shape[0]
        self.file = path.open("rb", buffering=0)  # open for the encoder's life; pread is atomic
        weakref.finalize(self, self.file.close)

    def take(self, ids: np.ndarray) -> np.ndarray:
        """Rows `ids` (any shape) as float32, shape `ids.shape + (width,)`: a new array."""
        unique, inverse = np.unique(ids, return_inverse=True)
        if len(unique) and not 0 <= unique[0] <= unique[-1] < self.rows:
            raise IndexError(f"token ids {unique[0]}..{unique[-1]} outside 0..{self.rows - 1}")
        rows = np.empty((len(unique), self.width), dtype=self.dtype)
        fd = self.file.fileno()
        for i, row in enumerate(unique.tolist()):
            data = os.pread(fd, self.row_bytes, self.offset + row * self.row_bytes)
            if len(data) != self.row_bytes:
                raise OSError(f"{self.file.name}: short read of row {row} (file changed?)")
            rows[i] = np.frombuffer(data, self.dtype)
        return rows.astype(np.float32, copy=False)[inverse.reshape(ids.shape)]


def _mapping(view: np.ndarray) -> mmap.mmap:
    base = view
    while isinstance(base, np.ndarray | memoryview):
        base = base.obj if isinstance(base, memoryview) else base.base
    return base


def _layer(tensors: dict[str, np.ndarray], prefix: str) -> _Layer:
    def weight(name: str) -> np.ndarray:
        return np.asarray(tensors[f"{prefix}{name}.weight"], dtype=np.float32)

    def bias(name: str) -> np.ndarray:
        return np.asarray(tensors[f"{prefix}{name}.bias"], dtype=np.float32)

    def norm(name: str) -> tuple[np.ndarray, np.ndarray]:
        gain = np.asarray(tensors[f"{prefix}{name}.LayerNorm.weight"], dtype=np.float32)
        return gain, bias(f"{name}.LayerNorm")

    return _Layer(
        query=weight("attention.self.query"),
        query_bias=bias("attention.self.query"),
        key=weight("attention.self.key"),
        key_bias=bias("attention.self.key"),
        value=weight("attention.self.value"),
        value_bias=bias("attention.self.value"),
        attention_out=weight("attention.output.dense"),
        attention_out_bias=bias("attention.output.dense"),
        attention_norm=norm("attention.output"),
        up=weight("intermediate.dense"),
        up_bias=bias("intermediate.dense"),
        down=weight("output.dense"),
        down_bias=bias("output.dense"),
        output_norm=norm("output"),
    )


def _tokenizer(path: Path, *, max_length: int):
    """The model's fast tokenizer, truncating as sentence-transformers does, padding left to us."""
    from tokenizers import Tokenizer

    if not path.is_file():
        raise EncoderError(f"no tokenizer.json in {path.parent}")
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.no_padding()
    return tokenizer


def _check_mean_pooling(path: Path) -> None:
    modules = _read_json(path / "modules.json")
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise EncoderError(f"{path}: modules {kinds} (the encoder runs Transformer + mean Pooling)")
    pooling = _read_json(path / modules[1]["path"] / "config.json")
    modes = [key for key, on in pooling.items() if key.startswith("pooling_mode") and on is True]
    if modes != ["pooling_mode_mean_tokens"] and pooling.get("pooling_mode") != "mean":
        raise EncoderError(f"{path}: pooling {modes} (the encoder runs mean pooling only)")


def _read_json(path: Path) -> dict | list:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EncoderError(f"cannot read {path}: {exc}") from exc


def _batches(order: list[int], lengths: list[int], budget: int) -> list[list[int]]:
    """Split `order` (sorted by length) into runs whose padded size stays within `budget`."""
    batches: list[list[int]] = []
    for i in order:
        if batches and lengths[i] * (len(batches[-1]) + 1) <= budget:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def _padded(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(row) for row in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return ids, mask


def _dense(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """x @ weight.T + bias, for a weight in torch's (out, in) layout."""
    out = x @ weight.T
    out += bias
    return out


def _layer_norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    """LayerNorm over the last axis; overwrites `x` (a temporary of the caller)."""
    x -= x.mean(axis=-1, keepdims=True)
    deviation = np.sqrt(np.square(x).mean(axis=-1, keepdims=True) + np.float32(eps))
    x /= deviation
    x *= gain
    x += bias
    return x


def _softmax(scores: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in place. Floored at -80 before exp(): the result stays a
    normal float32 (denormals make the CPU about 100 times slower) and padding's weight, under
    1e-34, changes nothing."""
    scores -= scores.max(axis=-1, keepdims=True)
    np.maximum(scores, np.float32(-80), out=scores)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    return scores


ERF_COEFFICIENTS = (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * (1 + erf(x / sqrt 2)) / 2, in place.

    erf to 1.5e-7 by Abramowitz and Stegun 7.1.26: erfc(z) = poly(t) * exp(-z^2) with
    t = 1 / (1 + p z). In-place steps: the layer's largest array, 4 times faster than temporaries.
    """
    z = np.abs(x)
    z *= np.float32(1 / math.sqrt(2))
    np.minimum(z, np.float32(4), out=z)  # erf is 1.0 in float32 from 4; exp() stays normal
    t = z * np.float32(0.3275911)
    t += 1
    np.reciprocal(t, out=t)
    erfc = np.full_like(x, ERF_COEFFICIENTS[0])
    for coefficient in ERF_COEFFICIENTS[1:]:
        erfc *= t
        erfc += np.float32(coefficient)
    erfc *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    erfc *= z  # erfc(|x| / sqrt 2)
    np.copysign(erfc, x, out=erfc)
    phi = np.sign(x)  # 2 Phi(x) = 1 + sign(x) (1 - erfc(|x| / sqrt 2))
    phi += 1
    phi -= erfc
    x *= phi
    x *= np.float32(0.5)
    return x
