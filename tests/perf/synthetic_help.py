"""A synthetic help center for the ingest and search benchmarks: deterministic Markdown
articles of five sections each, with a Zipf-like word distribution like real prose.

The words are made-up syllable compounds, so the benchmark measures the machinery (parse,
chunk, embed, store, search) and not the luck of a particular text. Search quality is
measured separately on real documentation (tests/perf/kb_quality).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

SYLLABLES = "ba be bi bo bu da de di do du ka ke ki ko ku la le li lo lu ma me mi mo mu na ne ni no nu ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo vu".split()
COMMON = "the a to and of in you your is for on with can this that it be or from by are".split()


def vocabulary(size: int = 6000, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


class Writer:
    def __init__(self, seed: int = 11) -> None:
        self.rng = random.Random(seed)
        self.vocab = vocabulary()
        # Zipf-like: word i is drawn with weight 1/(i+1).
        self.weights = [1.0 / (i + 1) for i in range(len(self.vocab))]

    def words(self, n: int) -> list[str]:
        picked = self.rng.choices(self.vocab, weights=self.weights, k=n)
        for i in range(0, n, 4):
            picked[i] = self.rng.choice(COMMON)
        return picked

    def sentence(self) -> str:
        words = self.words(self.rng.randint(8, 18))
        return " ".join(words).capitalize() + "."

    def section(self, chars: int = 800) -> str:
        out: list[str] = []
        size = 0
        while size < chars:
            paragraph = " ".join(self.sentence() for _ in range(self.rng.randint(2, 4)))
            out.append(paragraph)
            size += len(paragraph) + 2
        return "\n\n".join(out)

    def article(self, sections: int = 5) -> tuple[str, str]:
        title = " ".join(self.words(3)).title()
        parts = [f"# {title}\n"]
        for _ in range(sections):
            parts.append(f"## {' '.join(self.words(3)).capitalize()}\n\n{self.section()}\n")
        return title, "\n".join(parts)


def articles(count: int, seed: int = 11) -> Iterator[tuple[str, bytes]]:
    """``count`` articles as (file name, Markdown bytes); about five chunks each."""
    writer = Writer(seed)
    for i in range(count):
        _, body = writer.article()
        yield f"article-{i:06d}.md", body.encode()


def queries(count: int, seed: int = 5) -> list[str]:
    writer = Writer(seed)
    return [" ".join(writer.words(writer.rng.randint(3, 8))) for _ in range(count)]
