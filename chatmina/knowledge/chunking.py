"""Markdown to retrieval chunks: split at headings, pack whole blocks, overlap within a section.

A hand-written line scanner, not a Markdown library: it only needs headings, blank lines and
code fences, it must keep exact offsets (``chunk.text == body[start:end]``), and it runs on
every import, so it has to be fast.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

_LEAD = re.compile(r"[ \t]*")
_HEADING = re.compile(r"(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"`{3,}|~{3,}")
_LIST_ITEM = re.compile(r"(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
# The end of a sentence: terminal punctuation and closing quotes or brackets, then space.
_SENTENCE_END = re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*(?=\s)")
_SENTENCE_START = re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*\s+")

HEADING, PARAGRAPH, LIST, TABLE, CODE = "heading", "paragraph", "list", "table", "code"
_BY_LINE = frozenset({LIST, TABLE, CODE})


@dataclass(frozen=True)
class Chunk:
    text: str  # == body[start:end]
    heading_path: tuple[str, ...]  # the headings above this chunk, outermost first
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Block:
    start: int  # first non-blank character
    end: int  # after the last non-blank character
    kind: str
    level: int = 0
    title: str = ""


def _blocks(body: str) -> list[_Block]:
    """Headings, paragraphs, lists, tables and fenced code, in order, with exact offsets."""
    blocks: list[_Block] = []
    n = len(body)
    pos = 0
    open_start = -1  # start of the paragraph, list or table being read
    open_end = 0
    open_kind = PARAGRAPH
    fence = ""
    fence_start = 0
    while pos < n:
        newline = body.find("\n", pos)
        line_end = n if newline < 0 else newline
        first = _LEAD.match(body, pos, line_end).end()  # type: ignore[union-attr]
        last = line_end
        while last > first and body[last - 1] in " \t\r":
            last -= 1
        if fence:
            if first - pos <= 3 and body.startswith(fence, first):
                closing = _FENCE.match(body, first, last)
                if closing and closing.end() == last:
                    blocks.append(_Block(fence_start, last, CODE))
                    fence = ""
        elif first == last:
            if open_start >= 0:
                blocks.append(_Block(open_start, open_end, open_kind))
                open_start = -1
        else:
            char = body[first]
            heading = fenced = None
            if first - pos <= 3:
                if char == "#":
                    heading = _HEADING.match(body, first, last)
                elif char in "`~":
                    fenced = _FENCE.match(body, first, last)
                    # A backtick fence's info string cannot hold backticks (that is inline code).
                    if fenced and char == "`" and "`" in body[fenced.end() : last]:
                        fenced = None
            if heading or fenced:
                if open_start >= 0:
                    blocks.append(_Block(open_start, open_end, open_kind))
                    open_start = -1
                if heading:
                    blocks.append(
                        _Block(first, last, HEADING, len(heading.group(1)), heading.group(2))
                    )
                else:
                    assert fenced is not None
                    fence, fence_start = fenced.group(), first
            else:
                if open_start < 0:
                    open_start = first
                    if char == "|":
                        open_kind = TABLE
                    elif _LIST_ITEM.match(body, first, last):
                        open_kind = LIST
                    else:
                        open_kind = PARAGRAPH
                open_end = last
        pos = line_end + 1
    if fence:
        # An unclosed fence runs to the end of the text, as in CommonMark.
        end = len(body.rstrip())
        blocks.append(_Block(fence_start, max(end, fence_start + len(fence)), CODE))
    elif open_start >= 0:
        blocks.append(_Block(open_start, open_end, open_kind))
    return blocks


def _sections(blocks: list[_Block]) -> list[tuple[tuple[str, ...], list[_Block]]]:
    """Blocks grouped under their headings. A heading with no text of its own travels with
    the next section, so no chunk is a bare heading unless the text ends with one."""
    sections: list[tuple[tuple[str, ...], list[_Block]]] = []
    stack: list[tuple[int, str]] = []
    current: list[_Block] = []
    path: tuple[str, ...] = ()
    has_text = False
    for block in blocks:
        if block.kind == HEADING:
            if has_text:
                sections.append((path, current))
                current, has_text = [], False
            while stack and stack[-1][0] >= block.level:
                stack.pop()
            stack.append((block.level, block.title))
            path = tuple(title for _, title in stack)
        else:
            has_text = True
        current.append(block)
    if current:
        sections.append((path, current))
    return sections


class _Packer:
    """Cuts one section into chunks of at most ``max_chars``, overlapping by about ``overlap``."""

    def __init__(self, body: str, blocks: list[_Block], max_chars: int, overlap: int) -> None:
        self.body = body
        self.blocks = blocks
        self.starts = [b.start for b in blocks]
        self.ends = [b.end for b in blocks]
        self.max_chars = max_chars
        self.overlap = overlap
        leading = 0
        while leading < len(blocks) and blocks[leading].kind == HEADING:
            leading += 1
        # Never cut between the headings and the first text they introduce.
        self.text_start = blocks[leading - 1].end if 0 < leading < len(blocks) else blocks[0].start

    def spans(self) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        pos = self.blocks[0].start
        section_end = self.blocks[-1].end
        done = pos  # everything before this is in a chunk already
        while section_end - pos > self.max_chars:
            cut = self._cut(pos, max(done, self.text_start))
            if cut < 0 and pos < done:
                # Only a cut through a word fits after the overlap: drop the overlap instead.
                pos = self._skip_space(done)
                continue
            cut = abs(cut)
            end = self._trimmed(cut, pos)
            if end <= done:
                # Nothing new before the cut but blank space: skip it, no overlap to keep.
                pos = self._skip_space(cut)
                continue
            spans.append((pos, end))
            done = end
            pos = self._next_start(pos, end)
        spans.append((pos, section_end))
        return spans

    def _skip_space(self, pos: int) -> int:
        body = self.body
        while pos < len(body) and body[pos].isspace():
            pos += 1
        return pos

    def _trimmed(self, end: int, floor: int) -> int:
        body = self.body
        while end > floor and body[end - 1].isspace():
            end -= 1
        return end

    def _cut(self, pos: int, done: int) -> int:
        """The end of the chunk starting at ``pos``: a block boundary when that fills at least
        half a chunk, else a sentence or line boundary, else a space, else a cut through a
        word longer than a chunk, returned negated so the caller can tell."""
        limit = pos + self.max_chars
        body = self.body
        i = bisect_right(self.ends, limit) - 1
        block_end = self.ends[i] if i >= 0 and self.ends[i] > done else 0
        if block_end and block_end - pos >= self.max_chars // 2:
            return block_end
        k = bisect_right(self.starts, limit - 1) - 1
        block = self.blocks[k] if k >= 0 else None
        low = max(done + 1, pos + 1, block.start + 1 if block else 0)
        if block is not None and block.end > limit and low < limit:
            if block.kind in _BY_LINE:
                line = self._last_line_end(low, limit)
                if line:
                    return line
            else:
                sentence_end = 0
                for sentence in _SENTENCE_END.finditer(body, low, limit + 1):
                    sentence_end = sentence.end()
                if sentence_end:
                    return sentence_end
        if block_end:
            return block_end
        if block is not None and low < limit:
            line = self._last_line_end(low, limit)
            if line:
                return line
            for i in range(limit, low - 1, -1):
                if body[i].isspace() and not body[i - 1].isspace():
                    return i
        return -limit

    def _last_line_end(self, low: int, limit: int) -> int:
        newline = self.body.rfind("\n", low, limit + 1)
        while newline > low:
            end = self._trimmed(newline, low)
            if end > low:
                return end
            newline = self.body.rfind("\n", low, newline)
        return 0

    def _next_start(self, pos: int, end: int) -> int:
        """Where the next chunk starts: the first whole block, sentence or line within the
        last ``overlap`` characters of this chunk; without one, right after it."""
        window = max(end - self.overlap, pos + 1)
        k = max(bisect_right(self.starts, window) - 1, 0)
        while k < len(self.blocks) and self.starts[k] < end:
            block = self.blocks[k]
            k += 1
            if block.kind == HEADING:
                continue  # the headings are in every chunk's heading path already
            if block.start >= window:
                return block.start
            if block.end > window:
                found = self._boundary_in(block, window, min(end, block.end))
                if found:
                    return found
        return self._skip_space(end)

    def _boundary_in(self, block: _Block, window: int, end: int) -> int:
        body = self.body
        if block.kind in _BY_LINE:
            newline = body.find("\n", max(block.start, window - 1), end)
            while newline >= 0:
                start = _LEAD.match(body, newline + 1, end).end()  # type: ignore[union-attr]
                if window <= start < end and not body[start].isspace():
                    return start
                newline = body.find("\n", newline + 1, end)
            return 0
        for match in _SENTENCE_START.finditer(body, max(block.start, window - 8), end):
            if window <= match.end() < end:
                return match.end()
        return 0


def chunk_markdown(body: str, *, max_chars: int = 1200, overlap: int = 150) -> list[Chunk]:
    """Chunks of ``body`` for retrieval, each carrying the headings above it."""
    if max_chars < 1 or not 0 <= overlap < max_chars:
        raise ValueError("max_chars must be positive and overlap smaller than max_chars")
    chunks: list[Chunk] = []
    for path, blocks in _sections(_blocks(body)):
        for start, end in _Packer(body, blocks, max_chars, overlap).spans():
            chunks.append(Chunk(body[start:end], path, start, end))
    return chunks
