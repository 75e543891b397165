"""PDF files: the text layer of every page, paragraphs where the text has blank lines."""

from __future__ import annotations

import io
import logging
import re
from typing import TYPE_CHECKING

from chatmina.knowledge.parsers.documents import ImportProblem, ParsedDocument, title_from_name
from chatmina.knowledge.parsers.text import escape_markdown, tidy

if TYPE_CHECKING:
    from pypdf import PdfReader

LOCKED = "The PDF is password-protected"
DAMAGED = "The PDF could not be read (damaged file?)"
NO_TEXT = "The PDF has no text to import (scanned pages need text recognition first)"
_SPACES = re.compile(r"[ \t\u00a0]+")

# pypdf logs every oddity it recovers from; a damaged upload is reported to the user
# instead, so the log stays for Chatmina's own problems.
logging.getLogger("pypdf").setLevel(logging.ERROR)


def parse_pdf(name: str, data: bytes) -> ParsedDocument:
    # pypdf is imported here, not at module level: it is only needed when a PDF arrives,
    # and start-up stays fast without it.
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        # An empty user password only restricts printing or copying: such files open in
        # every viewer, so they import too.
        if reader.is_encrypted and not reader.decrypt(""):
            raise ImportProblem(LOCKED)
        pages = [page.extract_text() or "" for page in reader.pages]
        title = _metadata_title(reader)
    except ImportProblem:
        raise
    except Exception as error:  # pypdf raises many types for damaged files
        if type(error).__name__ in ("FileNotDecryptedError", "DependencyError"):
            raise ImportProblem(LOCKED) from None
        raise ImportProblem(DAMAGED) from None
    body = "\n\n".join(_page_text(text) for text in pages if text.strip())
    if not body.strip():
        raise ImportProblem(NO_TEXT)
    return ParsedDocument(title=title or title_from_name(name), body=body)


def _page_text(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return tidy(escape_markdown("\n".join(lines)))


def _metadata_title(reader: PdfReader) -> str:
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:  # a broken info dictionary is no reason to refuse the text
        return ""
    return " ".join(str(title).split()) if title else ""
