"""The builtin embedder alone: chunks per second in batches, and one question's latency.

Targets (the knowledge-base work): ingest runs at 2,000 chunks/s end to end, so the
embedder may take at most a fifth of that budget, at least 10,000 chunks/s for ~800-character
chunks in batches of 256; a question embeds in at most 1 ms (p50).

The text is synthetic but shaped like help-centre prose: sentences of common English words
mixed with a long tail of product words, numbers, accents and punctuation.
"""

from __future__ import annotations

import random
import time

from chatmina.knowledge.embedders.builtin import BuiltinEmbedder
from tests.perf.common import Result, median, percentile

BATCH = 256
BATCHES = 12
CHUNK_CHARS = 800
QUESTIONS = 300
CHUNKS_TARGET = 10_000.0
QUERY_P50_TARGET_MS = 1.0

COMMON_TEXT = (
    "the a to and of you your in is for it on can with this that be are or by not from "
    "we as have if when will an at after all more any how use do open page choose"
)
COMMON = COMMON_TEXT.split()
SYLLABLES = "ac ad al an ar as at be ca ce co de di el en er es ex in is it la le li lo ma me "
SYLLABLES += "mi mo na ne no on or ra re ri ro sa se si so ta te ti to ul un ur ve vi"
ENDINGS = ["", "", "", "s", "ed", "ing", "ion", "er", "ly", "ment", "é", "ür"]


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    parts = SYLLABLES.split()
    words: set[str] = set()
    while len(words) < size:
        stem = "".join(rng.choice(parts) for _ in range(rng.randint(1, 4)))
        words.add(stem + rng.choice(ENDINGS))
    return sorted(words)


def _chunk(rng: random.Random, words: list[str], weights: list[float]) -> str:
    sentences: list[str] = []
    length = 0
    while length < CHUNK_CHARS:
        count = rng.randint(6, 18)
        picked = [
            rng.choice(COMMON) if rng.random() < 0.45 else rng.choices(words, weights)[0]
            for _ in range(count)
        ]
        if rng.random() < 0.2:
            picked.insert(rng.randrange(len(picked)), str(rng.randint(1, 2000)))
        sentence = " ".join(picked).capitalize() + rng.choice([".", ".", "?", ":", "!"])
        sentences.append(sentence)
        length += len(sentence) + 1
    return " ".join(sentences)[:CHUNK_CHARS]


def corpus(seed: int = 2024) -> tuple[list[str], list[str]]:
    """(chunks, questions), the same on every run."""
    rng = random.Random(seed)
    words = _vocabulary(rng, 5000)
    weights = [1.0 / (rank + 1) for rank in range(len(words))]  # Zipf: a few words dominate
    chunks = [_chunk(rng, words, weights) for _ in range(BATCH * BATCHES)]
    questions = [
        " ".join(rng.choice(COMMON + words[:500]) for _ in range(rng.randint(3, 9))) + "?"
        for _ in range(QUESTIONS)
    ]
    return chunks, questions


def run() -> list[Result]:
    chunks, questions = corpus()
    embedder = BuiltinEmbedder()
    embedder.embed(chunks[:BATCH])  # warm-up: lookup tables built once per process

    rates = []
    for start in range(0, len(chunks), BATCH):
        batch = chunks[start : start + BATCH]
        began = time.perf_counter()
        embedder.embed(batch)
        rates.append(len(batch) / (time.perf_counter() - began))

    latencies = []
    for question in questions:
        began = time.perf_counter()
        embedder.embed([question])
        latencies.append((time.perf_counter() - began) * 1000)

    chars = sum(len(c) for c in chunks) / len(chunks)
    return [
        Result(
            "embed_builtin_chunks_per_s",
            median(rates),
            CHUNKS_TARGET,
            "chunks/s",
            lower_is_better=False,
            extra={"batch": BATCH, "batches": len(rates), "chunk_chars": round(chars)},
        ),
        Result(
            "embed_builtin_query_p50_ms",
            median(latencies),
            QUERY_P50_TARGET_MS,
            "ms",
            extra={"questions": len(latencies)},
        ),
        Result("embed_builtin_query_p95_ms", percentile(latencies, 95), None, "ms"),
    ]
