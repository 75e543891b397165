"""Static embedding models in the model2vec format, loaded from a directory on the box.

The directory holds ``config.json``, ``tokenizer.json`` (Hugging Face tokenizers format)
and ``model.safetensors`` with an ``embeddings`` matrix (one row per token) and, in newer
models, per-token ``weights`` and a token-to-row ``mapping``. A text's vector is the mean
of its tokens' rows, without special and unknown tokens, as model2vec computes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from chatmina.knowledge.embedders.base import EmbedderError, Vectors, normalise_rows
from chatmina.knowledge.embedders.safetensors import SafetensorsError, read_tensors

REQUIRED_FILES = ("config.json", "tokenizer.json", "model.safetensors")
# model2vec's default: tokens past this many add nothing to a text's vector.
MAX_TOKENS = 512
# Token rows are gathered at most this many at a time, which bounds the memory a large
# batch takes (8,192 rows of a 256-wide model: 16 MB).
_TOKENS_PER_STEP = 8192
_SAMPLE_STRIDE = 4093  # bytes between the matrix bytes that go into the fingerprint


class Model2VecEmbedder:
    """A static model: tokenise, look up each token's row, average."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.expanduser().resolve()
        shown = str(self.directory)
        if not self.directory.is_dir():
            raise EmbedderError(f"model2vec model directory {shown} does not exist")
        missing = [f for f in REQUIRED_FILES if not (self.directory / f).is_file()]
        if missing:
            raise EmbedderError(f"model2vec model directory {shown} has no {', '.join(missing)}")
        self._read_config()
        tokenizer_json = self._read("tokenizer.json")
        self._tokenizer = _load_tokenizer(tokenizer_json, shown)
        matrix, weights, mapping = self._read_tensors()
        self.dimensions = int(matrix.shape[1])
        self._matrix, self._weights, self._mapping = matrix, weights, mapping
        self._vocabulary = len(mapping) if mapping is not None else int(matrix.shape[0])
        self._check_vocabulary()
        self._unknown_id = _unknown_token_id(self._tokenizer)
        vocabulary = self._tokenizer.get_vocab()
        lengths = [len(token) for token in vocabulary] or [1]
        # model2vec also cuts a text to this many characters before tokenising, for speed.
        self._max_chars = MAX_TOKENS * max(1, int(np.median(lengths)))
        self.spec = f"model2vec:{shown}/{self.dimensions}#{self._fingerprint(tokenizer_json)}"

    def config(self) -> dict[str, Any]:
        return {"kind": "model2vec", "path": str(self.directory)}

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        if not texts:
            return out
        cut = [text[: self._max_chars] for text in texts]
        encodings = self._tokenizer.encode_batch(cut, add_special_tokens=False)
        rows: list[npt.NDArray[np.int64]] = []
        for encoding in encodings:
            ids = np.asarray(encoding.ids, dtype=np.int64)
            if self._unknown_id is not None:
                ids = ids[ids != self._unknown_id]
            rows.append(ids[:MAX_TOKENS])
        start, tokens = 0, 0
        for i, ids in enumerate(rows):
            tokens += len(ids)
            if tokens >= _TOKENS_PER_STEP or i == len(rows) - 1:
                out[start : i + 1] = normalise_rows(self._means(rows[start : i + 1]))
                start, tokens = i + 1, 0
        return out

    def _means(self, rows: list[npt.NDArray[np.int64]]) -> npt.NDArray[np.float64]:
        counts = np.array([len(r) for r in rows], dtype=np.int64)
        out = np.zeros((len(rows), self.dimensions), dtype=np.float64)
        if not counts.any():
            return out
        ids = np.concatenate(rows)
        if ids.max() >= self._vocabulary:
            raise EmbedderError(
                f"model2vec model in {self.directory}: the tokenizer produced token "
                f"{int(ids.max())}, beyond the {self._vocabulary} rows of the model"
            )
        matrix_rows = self._mapping[ids] if self._mapping is not None else ids
        vectors = self._matrix[matrix_rows].astype(np.float64)
        if self._weights is not None:
            vectors *= self._weights[ids].astype(np.float64)[:, None]
        filled = counts > 0
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))[filled]
        out[filled] = np.add.reduceat(vectors, starts, axis=0) / counts[filled][:, None]
        return out

    def _read(self, name: str) -> bytes:
        try:
            return (self.directory / name).read_bytes()
        except OSError as exc:
            raise EmbedderError(f"cannot read {self.directory / name}: {exc.strerror}") from None

    def _read_config(self) -> None:
        try:
            config = json.loads(self._read("config.json"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            config = None
        if not isinstance(config, dict):
            raise EmbedderError(f"{self.directory / 'config.json'} is not a JSON object")

    def _read_tensors(
        self,
    ) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None, npt.NDArray[Any] | None]:
        path = self.directory / "model.safetensors"
        try:
            tensors = read_tensors(path)
        except SafetensorsError as exc:
            raise EmbedderError(f"{path} cannot be read: {exc}") from None
        except OSError as exc:
            raise EmbedderError(f"cannot read {path}: {exc.strerror}") from None
        matrix = tensors.get("embeddings")
        if matrix is None or matrix.ndim != 2 or 0 in matrix.shape:
            raise EmbedderError(f"{path} has no 2-dimensional 'embeddings' matrix")
        if not np.issubdtype(matrix.dtype, np.floating) and matrix.dtype != np.int8:
            raise EmbedderError(f"{path}: 'embeddings' has unsupported dtype {matrix.dtype}")
        weights, mapping = tensors.get("weights"), tensors.get("mapping")
        if mapping is not None:
            if mapping.ndim != 1 or not np.issubdtype(mapping.dtype, np.integer):
                raise EmbedderError(f"{path}: 'mapping' must be a list of row numbers")
            if len(mapping) and (mapping.min() < 0 or mapping.max() >= matrix.shape[0]):
                raise EmbedderError(f"{path}: 'mapping' points outside 'embeddings'")
        token_count = len(mapping) if mapping is not None else matrix.shape[0]
        if weights is not None and (weights.ndim != 1 or len(weights) != token_count):
            raise EmbedderError(f"{path}: 'weights' must hold one number per token")
        return matrix, weights, mapping

    def _check_vocabulary(self) -> None:
        size = self._tokenizer.get_vocab_size(with_added_tokens=True)
        if size > self._vocabulary:
            raise EmbedderError(
                f"model2vec model in {self.directory}: tokenizer.json has {size} tokens but "
                f"model.safetensors has rows for {self._vocabulary}"
            )

    def _fingerprint(self, tokenizer_json: bytes) -> str:
        """A short digest of the model, so a model swapped in place changes the spec."""
        digest = hashlib.sha256(tokenizer_json)
        digest.update(str(self._matrix.shape).encode())
        # A sample of the matrix tells different models apart at a fraction of a full hash.
        digest.update(self._matrix.reshape(-1).view(np.uint8)[::_SAMPLE_STRIDE].tobytes())
        for extra in (self._weights, self._mapping):
            digest.update(b"-" if extra is None else extra.tobytes())
        return digest.hexdigest()[:12]


def _load_tokenizer(data: bytes, shown: str) -> Any:
    from tokenizers import Tokenizer  # Rust extension: loaded only when a model is used

    try:
        return Tokenizer.from_str(data.decode("utf-8"))
    except Exception as exc:  # the tokenizers package raises a bare Exception
        raise EmbedderError(f"{shown}/tokenizer.json cannot be loaded: {exc}") from None


def _unknown_token_id(tokenizer: Any) -> int | None:
    token = getattr(tokenizer.model, "unk_token", None)
    if not token:
        return None
    found = tokenizer.token_to_id(token)
    return int(found) if found is not None else None
