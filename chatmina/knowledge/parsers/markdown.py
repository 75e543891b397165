"""Markdown files: front matter, title, and the Markdown shapes other parsers produce."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from chatmina.knowledge.parsers.documents import (
    EMPTY,
    ImportProblem,
    ParsedDocument,
    clean_tags,
    title_from_name,
)
from chatmina.knowledge.parsers.text import decode_text, tidy

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_META_LINE = re.compile(r"^(?:[A-Za-z0-9_-]+:.*|[ \t]+.*|-[ \t].*|#.*|)$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.M)
_H1 = re.compile(r"^ {0,3}#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.M)
_SETEXT_HINT = re.compile(r"\n {0,3}(?:={2,}|-{2,})[ \t]*(?:\n|\Z)")
_UNDERLINE = re.compile(r"^ {0,3}(={2,}|-{2,})[ \t]*$")
_NOT_PARAGRAPH = re.compile(r"^ {0,3}(?:#|>|\||[-*+][ \t]|\d{1,9}[.)][ \t]|`{3}|~{3})")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(.+?)\1")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def split_front_matter(text: str) -> tuple[dict[str, str | list[str]], str]:
    """YAML-style front matter (title, tags, url, …) as simple values, and the text after it.

    Only 'key: value' lines and '- item' lists are understood: that is all help-center
    exports use, and it keeps a thematic break ('---') at the top of a file from being
    mistaken for front matter.
    """
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    lines = (match.group(1) or "").splitlines()
    if not all(_META_LINE.match(line) for line in lines):
        return {}, text
    meta: dict[str, str | list[str]] = {}
    key = ""
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("- ") and key:
            items = meta.setdefault(key, [])
            if isinstance(items, list):
                items.append(_unquote(stripped[2:]))
            continue
        if line[0] in " \t":
            continue  # continuation of a multi-line value nobody here needs
        key, _, value = line.partition(":")
        key = key.strip().lower()
        value = value.strip()
        if value.startswith("[") and value.endswith("]"):
            meta[key] = [_unquote(v) for v in value[1:-1].split(",") if v.strip()]
        elif value:
            meta[key] = _unquote(value)
    return meta, text[match.end() :]


def setext_to_atx(text: str) -> str:
    """'Title' over '=====' becomes '# Title' so every heading has the one shape chunking knows."""
    if not _SETEXT_HINT.search(text):
        return text
    lines = text.split("\n")
    out: list[str] = []
    fence = ""
    for line in lines:
        opener = _FENCE.match(line)
        if fence:
            if opener and opener.group(1)[0] == fence[0] and len(opener.group(1)) >= len(fence):
                fence = ""
        elif opener:
            fence = opener.group(1)
        elif (underline := _UNDERLINE.match(line)) and _single_line_paragraph(out):
            level = "#" if underline.group(1)[0] == "=" else "##"
            out[-1] = f"{level} {out[-1].strip()}"
            continue
        out.append(line)
    return "\n".join(out)


def _single_line_paragraph(previous: list[str]) -> bool:
    if not previous or not previous[-1].strip() or _NOT_PARAGRAPH.match(previous[-1]):
        return False
    return len(previous) == 1 or not previous[-2].strip()


def plain_heading(text: str) -> str:
    """Heading text without inline Markdown: '**Refunds** [fees](/fees)' -> 'Refunds fees'."""
    text = _LINK.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\2", text)
    return " ".join(text.split())


def first_heading(body: str) -> str:
    """The first level-one heading outside code fences, or ''."""
    for match in _H1.finditer(body):
        if not _inside_fence(body, match.start()):
            return plain_heading(match.group(1))
    return ""


def _inside_fence(text: str, pos: int) -> bool:
    fence = ""
    for opener in _FENCE.finditer(text, 0, pos):
        marker = opener.group(1)
        if not fence:
            fence = marker
        elif marker[0] == fence[0] and len(marker) >= len(fence):
            fence = ""
    return bool(fence)


def pipe_table(rows: list[list[str]]) -> str:
    """A Markdown pipe table; the first row is the header. Cells are single-line text."""
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        return ""
    width = max(len(row) for row in rows)

    def line(cells: list[str]) -> str:
        cells = [" ".join(c.split()).replace("|", "\\|") for c in cells]
        cells += [""] * (width - len(cells))
        return "| " + " | ".join(cells) + " |"

    lines = [line(rows[0]), "|" + " --- |" * width]
    lines.extend(line(row) for row in rows[1:])
    return "\n".join(lines)


def join_blocks(blocks: list[tuple[str, str]]) -> str:
    """Blocks as (kind, Markdown): blank lines between them, except between items of one list
    (kinds starting with 'li' and equal), which stay together as one list."""
    parts: list[str] = []
    previous = ""
    for kind, text in blocks:
        if parts:
            same_list = kind == previous and kind.startswith("li")
            parts.append("\n" if same_list else "\n\n")
        parts.append(text)
        previous = kind
    return "".join(parts)


def http_url(value: object) -> str:
    if isinstance(value, str):
        value = value.strip()
        try:
            parts = urlsplit(value)
        except ValueError:  # 'https://[not-an-address'
            return ""
        if parts.scheme in ("http", "https") and parts.netloc:
            return value
    return ""


def parse_markdown(name: str, data: bytes, kind: str) -> ParsedDocument:
    meta, text = split_front_matter(decode_text(data, kind))
    body = tidy(setext_to_atx(text), collapse_blank_lines=False)
    if not body.strip():
        raise ImportProblem(EMPTY)
    meta_title = meta.get("title")
    title = (
        first_heading(body)
        or (plain_heading(meta_title) if isinstance(meta_title, str) else "")
        or title_from_name(name)
    )
    return ParsedDocument(
        title=title,
        body=body,
        source_url=http_url(meta.get("url") or meta.get("source_url")),
        tags=clean_tags(meta.get("tags", meta.get("tag"))),
    )
