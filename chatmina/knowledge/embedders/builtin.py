"""The builtin embedder: signed feature hashing of words and character n-grams.

No weights, no network, no state. A text becomes a bag of features: its words, and the
character 3- and 4-grams of each word with a space on either side (" cat " gives " ca",
"cat", "at ", " cat", "cat "), so "reset" still meets "resetting". Each feature adds its
weight to one of 384 buckets, with a sign taken from its hash so that collisions cancel
out on average instead of piling up. A word said k times in a text counts 1 + log k
times, its n-grams likewise. Words count more than n-grams; common English words count
little and give no n-grams. Only the first ``MAX_TEXT_CHARS`` characters of a text count.

The whole batch is hashed at once with numpy over the text's code points: no Python loop
runs per word or per n-gram, which is what makes the ingest target (thousands of chunks a
second on two cores) reachable.

Changing anything here that moves a vector changes the vector space: bump ``VERSION`` so
the spec changes and stored vectors are rebuilt.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from chatmina.knowledge.embedders.builtin_spec import DIMENSIONS, SPEC, VERSION
from chatmina.knowledge.stopwords import STOPWORDS

# Feature kinds and their weights. A word match is stronger evidence than a shared
# n-gram, and a word gives up to ~2x its length in n-grams, so each n-gram counts less.
_WORD, _STOPWORD, _TRIGRAM, _QUADGRAM = 0, 1, 2, 3
_KIND_WEIGHTS = np.array([1.0, 0.15, 0.3, 0.4], dtype=np.float64)


# Far beyond any chunk or question; it bounds the memory one text can take.
MAX_TEXT_CHARS = 1 << 17

# Texts are hashed together in slices of about this many characters: big enough to
# amortise numpy's per-call cost, small enough to bound memory on huge inputs.
_SLICE_CHARS = 1 << 18
_MAX_SLICE_TEXTS = 1 << 13  # keeps row numbers clear of the word hash in term-count keys
_SEPARATOR = "\x00"
_SPACE = 32

_U64 = np.uint64
_U32 = np.uint32
_POLY = 0x100000001B3  # odd, so it has an inverse modulo 2**64
_POLY_INVERSE = pow(_POLY, -1, 1 << 64)
# N-grams only need a bucket, so they are hashed in cheaper 32-bit arithmetic.
_NGRAM_POLY = _U32(0x01000193)
# One odd multiplier per feature kind, so a word and an n-gram with the same letters
# ("cat") land in unrelated buckets.
_WORD_MULTIPLIER = _U64(0x9E3779B97F4A7C15)
_TRIGRAM_MULTIPLIER = _U32(0x85EBCA6B)
_QUADGRAM_MULTIPLIER = _U32(0xC2B2AE35)
_SIGNED_BUCKETS = 2 * DIMENSIONS  # the upper half of the buckets counts negatively

U64Array = npt.NDArray[np.uint64]


class _Tables:
    """Lazily built lookup tables, shared by every call (read-only once built)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # One tuple, swapped whole: a reader never sees new powers with old inverses.
        self._powers: tuple[U64Array, U64Array] = (np.ones(1, _U64), np.ones(1, _U64))
        self._word_chars: npt.NDArray[np.bool_] | None = None

    def powers(self, n: int) -> tuple[U64Array, U64Array]:
        """P**j and P**-j modulo 2**64 for j < n (at least)."""
        current = self._powers
        if len(current[0]) >= n:
            return current
        with self._lock:
            size = max(n, 2 * len(self._powers[0]))
            # cumprod over uint64 wraps modulo 2**64, which is exactly the arithmetic wanted.
            powers = np.concatenate(([_U64(1)], np.cumprod(np.full(size - 1, _POLY, _U64))))
            inverse = np.concatenate(
                ([_U64(1)], np.cumprod(np.full(size - 1, _POLY_INVERSE, dtype=_U64)))
            )
            self._powers = (powers, inverse)
        return powers, inverse

    def word_chars(self) -> npt.NDArray[np.bool_]:
        """Which code points of the Basic Multilingual Plane are word characters."""
        table = self._word_chars
        if table is None:
            with self._lock:
                # Python's \w without the underscore: letters and digits of any script.
                table = np.array([chr(c).isalnum() for c in range(0x10000)], dtype=np.bool_)
                self._word_chars = table
        return table


_TABLES = _Tables()


def _is_word(codes: npt.NDArray[np.uint32]) -> npt.NDArray[np.bool_]:
    table = _TABLES.word_chars()
    if int(codes.max()) <= 0xFFFF:
        return table[codes]
    flags: npt.NDArray[np.bool_] = table[np.minimum(codes, 0xFFFF)]
    beyond = codes > 0xFFFF
    # Emoji and rare scripts beyond the BMP: classify the few distinct ones directly.
    distinct, where = np.unique(codes[beyond], return_inverse=True)
    flags[beyond] = np.array([chr(int(c)).isalnum() for c in distinct], dtype=np.bool_)[where]
    return flags


def _code_points(texts: Sequence[str]) -> npt.NDArray[np.uint32]:
    """The texts' code points, lower-cased and NFKC-normalised, separated by NUL."""
    if any(len(t) > MAX_TEXT_CHARS for t in texts):
        texts = [t[:MAX_TEXT_CHARS] for t in texts]
    joined = _SEPARATOR.join(texts)
    if joined.count(_SEPARATOR) != len(texts) - 1:
        joined = _SEPARATOR.join(t.replace(_SEPARATOR, " ") for t in texts)
    # NFKC folds ligatures, full-width letters and composed accents to one spelling.
    folded = unicodedata.normalize("NFKC", joined).casefold()
    padded = f" {folded} ".encode("utf-32-le")
    return np.frombuffer(padded, dtype="<u4")


def _word_buckets(spans: U64Array) -> U64Array:
    """Signed buckets of 64-bit word hashes: the top 32 bits of an odd multiple, scaled."""
    top = (spans * _WORD_MULTIPLIER) >> _U64(32)
    return (top * _U64(_SIGNED_BUCKETS)) >> _U64(32)


def _ngram_buckets(hashes: npt.NDArray[np.uint32], multiplier: np.uint32) -> npt.NDArray[Any]:
    """Signed buckets of 32-bit n-gram hashes: the top 16 bits of an odd multiple, scaled."""
    top = (hashes * multiplier) >> _U32(16)
    return (top * _U32(_SIGNED_BUCKETS)) >> _U32(16)


def _embed_slice(texts: Sequence[str]) -> npt.NDArray[np.float32]:
    codes = _code_points(texts)
    n = len(codes)
    word = _is_word(codes)
    c32 = np.where(word, codes, _U32(_SPACE))
    c = c32.astype(_U64)
    # Each position's first cell in the signed-bucket matrix, from its text's row; the NUL
    # separators mark where one text ends and the next begins.
    bounds = np.concatenate(([0], np.flatnonzero(codes == 0), [n]))
    row_base = np.repeat(np.arange(len(texts), dtype=np.int64) * _SIGNED_BUCKETS, np.diff(bounds))

    # Words: polynomial hashes of spans, read off prefix sums of c[j] * P**j.
    powers, inverse = _TABLES.powers(n)
    prefix = np.zeros(n + 1, dtype=_U64)
    np.cumsum(c * powers[:n], out=prefix[1:])
    starts = np.flatnonzero(word[1:] & ~word[:-1]) + 1
    ends = np.flatnonzero(word[:-1] & ~word[1:]) + 1
    spans = (prefix[ends] - prefix[starts]) * inverse[starts]
    stop = _STOP_TABLE[(spans * _STOP_MULTIPLIER) >> _STOP_SHIFT] == spans

    # Sublinear term frequency: the k occurrences of a word in a text share 1 + log k.
    word_rows = row_base[starts]
    keys = (word_rows.astype(_U64) << _U64(40)) ^ spans
    _, inverse_of, counts = np.unique(keys, return_inverse=True, return_counts=True)
    tf = counts[inverse_of]
    share = (1.0 + np.log(tf)) / tf

    # Each position of a word carries its word's share; spaces and stopwords carry none,
    # which is what keeps n-grams inside words and away from stopwords.
    values = np.zeros(2 * len(starts) + 1, dtype=np.float64)
    values[1::2] = np.where(stop, 0.0, share)
    lengths = np.empty(2 * len(starts) + 1, dtype=np.int64)
    lengths[1::2] = ends - starts
    lengths[0:-1:2] = starts - np.concatenate(([0], ends[:-1]))
    lengths[-1] = n - (ends[-1] if len(ends) else 0)
    at_position = np.repeat(values, lengths)

    # N-grams, dense over all positions: a 3-gram counts when its middle character is in
    # a word, a 4-gram when both middle ones are; the others get weight 0.
    tri = (c32[:-2] * _NGRAM_POLY + c32[1:-1]) * _NGRAM_POLY + c32[2:]
    quad = tri[:-1] * _NGRAM_POLY + c32[3:]
    word_w = np.where(stop, _KIND_WEIGHTS[_STOPWORD], _KIND_WEIGHTS[_WORD]) * share
    tri_w = at_position[1:-1] * _KIND_WEIGHTS[_TRIGRAM]
    quad_w = np.minimum(at_position[1:-2], at_position[2:-1]) * _KIND_WEIGHTS[_QUADGRAM]

    cells = _SIGNED_BUCKETS * len(texts)
    signed = np.bincount(word_rows + _word_buckets(spans).view(np.int64), word_w, cells)
    # bincount answers int64 when there is nothing to count (a text of punctuation only).
    signed = signed.astype(np.float64, copy=False)
    signed += np.bincount(row_base[1:-1] + _ngram_buckets(tri, _TRIGRAM_MULTIPLIER), tri_w, cells)
    signed += np.bincount(
        row_base[1:-2] + _ngram_buckets(quad, _QUADGRAM_MULTIPLIER), quad_w, cells
    )
    halves = signed.reshape(len(texts), 2, DIMENSIONS)
    vectors = halves[:, 0, :] - halves[:, 1, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.divide(vectors, norms, out=vectors, where=norms > 0)
    return vectors.astype(np.float32)


def _slices(texts: Sequence[str]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    start, size = 0, 0
    for i, text in enumerate(texts):
        size += min(len(text), MAX_TEXT_CHARS) + 1
        if size >= _SLICE_CHARS or i + 1 - start >= _MAX_SLICE_TEXTS:
            out.append((start, i + 1))
            start, size = i + 1, 0
    if start < len(texts):
        out.append((start, len(texts)))
    return out


class BuiltinEmbedder:
    """Feature hashing: deterministic everywhere, fast, and good at shared words and stems."""

    spec = SPEC
    dimensions = DIMENSIONS

    def config(self) -> dict[str, Any]:
        return {"kind": "builtin", "version": VERSION}

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for start, stop in _slices(texts):
            out[start:stop] = _embed_slice(texts[start:stop])
        return out


def _stopword_spans() -> list[int]:
    """The span hashes of STOPWORDS, as :func:`_embed_slice` computes them for words."""
    mask = (1 << 64) - 1
    return sorted(
        sum(ord(ch) * pow(_POLY, j, 1 << 64) for j, ch in enumerate(w)) & mask for w in STOPWORDS
    )


def _stop_table() -> tuple[U64Array, np.uint64, np.uint64]:
    """A collision-free hash table of the stopword spans: a lookup is one multiply."""
    spans = _stopword_spans()
    shift = 52  # 4,096 slots for ~130 words
    for attempt in range(1, 1000):
        multiplier = (0x9E3779B97F4A7C15 * attempt) & ((1 << 64) - 1) | 1
        slots = [((span * multiplier) & ((1 << 64) - 1)) >> shift for span in spans]
        if len(set(slots)) == len(slots):
            table = np.zeros(1 << (64 - shift), dtype=_U64)
            table[slots] = spans
            return table, _U64(multiplier), _U64(shift)
    raise RuntimeError("no collision-free stopword table")  # unreachable for this list


_STOP_TABLE, _STOP_MULTIPLIER, _STOP_SHIFT = _stop_table()
