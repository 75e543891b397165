"""A synthetic help center for the ingest and search benchmarks: deterministic Markdown
articles of five sections each, written by a word-bigram model of Git's documentation.

Made-up text must still look like real text to the machinery under test: its word and
character statistics decide how similar chunks are to each other, and so how hard vector
search is. A model trained on real documentation (the git-doc package the quality
benchmark uses) gives help-center-like statistics at any size, here 100,000 chunks.
"""

from __future__ import annotations

import itertools
import random
import re
from collections import defaultdict
from collections.abc import Iterator
from functools import cache

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


@cache
def _model() -> tuple[list[str], dict[str, list[str]]]:
    from chatmina.knowledge.parsers import ImportLimits, extract
    from tests.perf.kb_quality.corpus import documents, ensure_installed

    ensure_installed()
    words: list[str] = []
    for name, raw in documents():
        for source in extract(name, raw, ImportLimits()):
            if source.document is not None:
                words.extend(w.lower() for w in _WORD.findall(source.document.body))
    following: dict[str, list[str]] = defaultdict(list)
    for a, b in itertools.pairwise(words):
        following[a].append(b)
    return words, dict(following)


class Writer:
    def __init__(self, seed: int = 11) -> None:
        self.rng = random.Random(seed)
        self.words, self.following = _model()

    def phrase(self, n: int) -> list[str]:
        word = self.rng.choice(self.words)
        out = [word]
        while len(out) < n:
            nexts = self.following.get(word)
            word = self.rng.choice(nexts) if nexts else self.rng.choice(self.words)
            out.append(word)
        return out

    def sentence(self) -> str:
        return " ".join(self.phrase(self.rng.randint(8, 22))).capitalize() + "."

    def section(self, chars: int = 800) -> str:
        out: list[str] = []
        size = 0
        while size < chars:
            paragraph = " ".join(self.sentence() for _ in range(self.rng.randint(2, 4)))
            out.append(paragraph)
            size += len(paragraph) + 2
        return "\n\n".join(out)

    def article(self, sections: int = 5) -> tuple[str, str]:
        title = " ".join(self.phrase(3)).title()
        parts = [f"# {title}\n"]
        for _ in range(sections):
            parts.append(f"## {' '.join(self.phrase(3)).capitalize()}\n\n{self.section()}\n")
        return title, "\n".join(parts)


def articles(count: int, seed: int = 11) -> Iterator[tuple[str, bytes]]:
    """``count`` articles as (file name, Markdown bytes); about five chunks each."""
    writer = Writer(seed)
    for i in range(count):
        _, body = writer.article()
        yield f"article-{i:06d}.md", body.encode()


def queries(count: int, seed: int = 5) -> list[str]:
    """Questions of 3-10 words, written by the same model as the articles."""
    writer = Writer(seed)
    return [" ".join(writer.phrase(writer.rng.randint(3, 10))) for _ in range(count)]
