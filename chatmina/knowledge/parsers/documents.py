"""What an import produces: parsed documents, or a clear reason why a file was not imported."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

MB = 1024 * 1024


@dataclass(frozen=True)
class ImportLimits:
    max_file_bytes: int = 25 * MB
    max_zip_members: int = 2000
    max_zip_total_bytes: int = 200 * MB
    # Per member, uncompressed over compressed; above this a member is treated as a zip bomb.
    max_compression_ratio: int = 100


@dataclass(frozen=True)
class ParsedDocument:
    title: str
    # Markdown: '#' headings, paragraphs, '-'/'1.' lists, pipe tables, ``` code fences.
    body: str
    source_url: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Source:
    """One importable unit. ``name`` is its stable identity for idempotent re-import: the file
    name, the path inside a zip ("help.zip/guides/setup.md"), a URL, or "faq.csv#<question>"."""

    name: str
    document: ParsedDocument | None
    error: str | None = None


class ImportProblem(Exception):
    """A file cannot be imported; the message is shown to the user as is."""


EMPTY = "The file is empty"


def megabytes(size: int) -> str:
    if size < MB:
        return f"{max(size // 1024, 1)} KB"
    value = size / MB
    shown = f"{value:.0f}" if value == int(value) else f"{value:.1f}"
    return f"{shown} MB"


def too_large(limit: int) -> str:
    return f"The file is larger than the {megabytes(limit)} limit"


def title_from_name(name: str) -> str:
    """A readable title from a file name or URL: 'guides/get-started.md' -> 'Get started'."""
    try:
        path = urlsplit(name).path if "://" in name else name
    except ValueError:  # not a URL after all ('http://[oops')
        path = name
    stem = posixpath.basename(path.rstrip("/"))
    if "." in stem.lstrip("."):
        stem = stem.rsplit(".", 1)[0]
    words = " ".join(re.split(r"[-_\s]+", stem)).strip()
    if not words:
        return name.split("://")[-1].split("/")[0] or "Untitled"
    return words[0].upper() + words[1:]


def clean_tags(raw: object) -> tuple[str, ...]:
    """Tags from a list or a comma/semicolon/pipe separated string, trimmed, without repeats."""
    if isinstance(raw, str):
        parts: list[object] = re.split(r"[,;|]", raw)
    elif isinstance(raw, list | tuple):
        parts = list(raw)
    else:
        return ()
    seen: dict[str, None] = {}
    for part in parts:
        if isinstance(part, str | int | float) and not isinstance(part, bool):
            tag = " ".join(str(part).split())
            if tag:
                seen.setdefault(tag, None)
    return tuple(seen)
