"""Turning bytes into text, and plain text files into documents."""

from __future__ import annotations

import codecs
import contextlib
import re

from chatmina.knowledge.parsers.documents import (
    EMPTY,
    ImportProblem,
    ParsedDocument,
    title_from_name,
)

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# C0 controls other than tab, newline, form feed and carriage return, plus DEL and C1.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_NOT_CONTROL_BYTES = bytes(b for b in range(256) if (b >= 0x20 and b != 0x7F) or b in b"\t\n\f\r")
_SAMPLE = 8192
_MAX_CONTROL_SHARE = 0.02
_MARKDOWN_START = re.compile(r"^( {0,3})(#{1,6}(?=[ \t]|$)|`{3,}|~{3,})", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n[ \t]*(?:\n[ \t]*)+\n")


def not_text(kind: str) -> ImportProblem:
    return ImportProblem(f"This file is not text (binary content named {kind}?)")


def _utf16_without_bom(data: bytes) -> str | None:
    # Text saved as UTF-16 without a BOM is mostly ASCII, so every other byte is NUL.
    sample = data[:_SAMPLE]
    if len(sample) < 4 or len(data) % 2:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    half = len(sample) // 2
    encoding = "utf-16-le" if odd > 0.4 * half and even == 0 else None
    if even > 0.4 * half and odd == 0:
        encoding = "utf-16-be"
    if encoding is None:
        return None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _looks_like_text(text: str) -> bool:
    sample = text[:_SAMPLE]
    return len(_CONTROL.findall(sample)) <= _MAX_CONTROL_SHARE * max(len(sample), 1)


def _bytes_look_like_text(data: bytes) -> bool:
    # The same test on raw bytes, for single-byte and UTF-8 text: bytes.translate is far
    # faster than a regular expression over the decoded string.
    sample = data[:_SAMPLE]
    controls = sample.translate(None, _NOT_CONTROL_BYTES)
    return len(controls) <= _MAX_CONTROL_SHARE * max(len(sample), 1)


def _decode(data: bytes, hint: str | None) -> str | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError:
                return None
    if b"\x00" in data:
        return _utf16_without_bom(data)
    # UTF-8 first even when a charset is declared: valid non-ASCII UTF-8 is almost never
    # anything else, while declared charsets are often wrong ("iso-8859-1" on UTF-8 pages).
    candidates = ["utf-8"]
    if hint:
        with contextlib.suppress(LookupError):
            candidates.append(codecs.lookup(hint).name)
    for encoding in candidates:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    # Not UTF-8: most such files come from Windows editors. cp1252 leaves five bytes
    # undefined; latin-1 maps those so the decode never fails, and the control-character
    # check below rejects what is really binary.
    return data.decode("cp1252", errors="ignore") if _cp1252_clean(data) else data.decode("latin-1")


def _cp1252_clean(data: bytes) -> bool:
    return not any(b in data for b in (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d"))


def decode_text(data: bytes, kind: str, hint: str | None = None) -> str:
    """Decode with a BOM if there is one, else as UTF-8, the declared charset, or cp1252.

    Raises ImportProblem for binary content; newlines come back as '\\n'.
    """
    text = _decode(data, hint)
    if text is None:
        raise not_text(kind)
    looks_like_text = (
        _bytes_look_like_text(data) if _one_byte_ascii(data) else _looks_like_text(text)
    )
    if not looks_like_text:
        raise not_text(kind)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.removeprefix("\ufeff").replace("\x00", "")


def _one_byte_ascii(data: bytes) -> bool:
    """True for encodings where ASCII characters are single bytes (UTF-8, cp1252, latin-1)."""
    return b"\x00" not in data and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))


def escape_markdown(text: str) -> str:
    """Keep plain-text lines that start like a heading or code fence from becoming one."""
    return _MARKDOWN_START.sub(r"\1\\\2", text)


def tidy(text: str, collapse_blank_lines: bool = True) -> str:
    """Trailing spaces removed, runs of blank lines collapsed to one, outer blank lines dropped."""
    # Line by line: a regular expression anchored at line ends tries every space in the text.
    text = "\n".join(line.rstrip(" \t") for line in text.split("\n"))
    if collapse_blank_lines:
        text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip("\n")


def parse_text(name: str, data: bytes, kind: str, hint: str | None = None) -> ParsedDocument:
    body = tidy(escape_markdown(decode_text(data, kind, hint)))
    if not body.strip():
        raise ImportProblem(EMPTY)
    return ParsedDocument(title=title_from_name(name), body=body)
