"""Answers without a model: the best passages, quoted word for word, with citations.

Nothing here writes a sentence of its own about the business: the quoted passages come
from the knowledge base, and the framing around them is fixed text. So an answer can be
incomplete but never invented.
"""

from __future__ import annotations

import re

from chatmina.assistant.events import Source

MAX_QUOTE_CHARS = 600
MAX_QUOTES = 2
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n\s*\n|\n(?=[-*#>]|\d+\.)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
_QUOTE = re.compile(r"^\s{0,3}>\s?")

INTRO = "Here is what I found in our help center:"
OFFER = "If this does not answer your question, I can connect you with a person."
UNKNOWN = (
    "I'm sorry, I don't know the answer to that. Would you like me to connect you with a "
    "person who can help?"
)
UNAVAILABLE = (
    "I'm sorry, I can't answer right now: the assistant is unavailable. Would you like me to "
    "connect you with a person?"
)


def _sentences(text: str) -> list[str]:
    """Sentences and list items, without headings (the citation names the section)."""
    parts = (_QUOTE.sub("", p).strip() for p in _SENTENCE.split(text) if not _HEADING.match(p))
    return [p for p in parts if p]


def best_excerpt(text: str, terms: list[str]) -> str:
    """The run of up to three sentences that contains most of the question's words."""
    sentences = _sentences(text)
    if not sentences:
        return ""
    lowered = [s.lower() for s in sentences]

    def hits(i: int) -> int:
        return sum(1 for t in terms if t in lowered[i])

    best_start, best_score = 0, -1
    for start in range(len(sentences)):
        window = range(start, min(start + 3, len(sentences)))
        covered = {t for i in window for t in terms if t in lowered[i]}
        score = len(covered) * 10 + hits(start)  # prefer a window that starts on a match
        if score > best_score:
            best_start, best_score = start, score
    chosen: list[str] = []
    length = 0
    for sentence in sentences[best_start : best_start + 3]:
        if chosen and length + len(sentence) > MAX_QUOTE_CHARS:
            break
        chosen.append(sentence)
        length += len(sentence) + 1
    excerpt = " ".join(chosen)
    if len(excerpt) > MAX_QUOTE_CHARS:
        excerpt = excerpt[:MAX_QUOTE_CHARS].rsplit(" ", 1)[0] + " …"
    return excerpt


def answer(sources: list[Source], terms: list[str], threshold: float) -> tuple[str, list[Source]]:
    """Quote the relevant sources, best first, each with its citation."""
    quoted: list[Source] = []
    blocks: list[str] = []
    for source in sources:
        if len(quoted) == MAX_QUOTES or source.relevance < threshold:
            continue
        excerpt = best_excerpt(source.text, terms)
        if not excerpt:
            continue
        quoted.append(source)
        where = f"{source.title} > {source.heading}" if source.heading else source.title
        blocks.append(f"**{where}**\n\n> {excerpt} [{source.n}]")
    if not quoted:
        return UNKNOWN, []
    return "\n\n".join([INTRO, *blocks, OFFER]), quoted
