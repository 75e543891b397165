"""Files to knowledge: every supported format becomes Markdown documents, or a clear reason.

Pure functions: no database, no network. ``extract`` never raises for bad input; each
problem becomes a Source with an error and the other files carry on.
"""

from __future__ import annotations

import logging
import posixpath

from chatmina.knowledge.parsers.archive import ZipBudget, extract_zip
from chatmina.knowledge.parsers.documents import (
    EMPTY,
    ImportLimits,
    ImportProblem,
    ParsedDocument,
    Source,
    too_large,
)
from chatmina.knowledge.parsers.docx import parse_docx
from chatmina.knowledge.parsers.html import parse_html
from chatmina.knowledge.parsers.markdown import parse_markdown
from chatmina.knowledge.parsers.pdf import parse_pdf
from chatmina.knowledge.parsers.qa import parse_qa_csv, parse_qa_json
from chatmina.knowledge.parsers.text import parse_text

__all__ = [
    "SUPPORTED_TYPES",
    "ImportLimits",
    "ParsedDocument",
    "Source",
    "extract",
    "extract_as",
    "file_type",
]

SUPPORTED_TYPES = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx", ".csv", ".json")
_ARCHIVE = ".zip"
_MAX_ZIP_DEPTH = 1  # a zip may hold zips, those may not
logger = logging.getLogger(__name__)


def file_type(name: str) -> str:
    """The lower-case extension of the last path part, with its dot ('' when there is none)."""
    base = posixpath.basename(name.replace("\\", "/"))
    return posixpath.splitext(base)[1].lower()


def _supported(name: str) -> bool:
    kind = file_type(name)
    return kind in SUPPORTED_TYPES or kind == _ARCHIVE


def _unsupported(kind: str) -> str:
    shown = f"{kind} files" if kind else "Files without an extension"
    names = ", ".join((*SUPPORTED_TYPES, _ARCHIVE))
    return f"{shown} cannot be imported. Supported types: {names}"


def extract(name: str, data: bytes, limits: ImportLimits = ImportLimits()) -> list[Source]:
    """Sources parsed from one uploaded file; a zip gives one per member.

    Never raises for bad input: every problem becomes a Source with an error; the rest continues.
    """
    return extract_as(file_type(name), name, data, limits)


def extract_as(
    kind: str,
    name: str,
    data: bytes,
    limits: ImportLimits = ImportLimits(),
    charset: str | None = None,
) -> list[Source]:
    """Like :func:`extract`, for content whose type is known some other way (a web page's
    Content-Type): ``kind`` is the extension it would have, ``charset`` a declared one."""
    return _extract(kind, name, data, limits, charset, 0, ZipBudget(limits.max_zip_total_bytes))


def _extract(
    kind: str,
    name: str,
    data: bytes,
    limits: ImportLimits,
    charset: str | None,
    depth: int,
    budget: ZipBudget,
) -> list[Source]:
    if kind not in SUPPORTED_TYPES and kind != _ARCHIVE:
        return [Source(name, None, _unsupported(kind))]
    limit = limits.max_zip_total_bytes if kind == _ARCHIVE else limits.max_file_bytes
    if len(data) > limit:
        return [Source(name, None, too_large(limit))]
    if not data or data.isspace():
        return [Source(name, None, EMPTY)]
    try:
        if kind == _ARCHIVE:
            return _extract_zip(name, data, limits, depth, budget)
        if kind in (".csv", ".json"):
            sources = parse_qa_csv(name, data) if kind == ".csv" else parse_qa_json(name, data)
            return sources or [Source(name, None, "The file has no questions with answers")]
        return [Source(name, _parse(kind, name, data, limits, charset))]
    except ImportProblem as problem:
        return [Source(name, None, str(problem))]
    except Exception:
        # A parser bug must not stop the rest of an import: the user gets a message,
        # the log gets the traceback.
        logger.exception("parsing %s failed", name)
        return [Source(name, None, "Chatmina could not read this file; the problem was logged")]


def _parse(
    kind: str, name: str, data: bytes, limits: ImportLimits, charset: str | None
) -> ParsedDocument:
    if kind in (".md", ".markdown"):
        return parse_markdown(name, data, kind)
    if kind in (".html", ".htm"):
        return parse_html(name, data, kind, charset)
    if kind == ".pdf":
        return parse_pdf(name, data)
    if kind == ".docx":
        return parse_docx(name, data, limits)
    return parse_text(name, data, kind, charset)


def _extract_zip(
    name: str, data: bytes, limits: ImportLimits, depth: int, budget: ZipBudget
) -> list[Source]:
    if depth > _MAX_ZIP_DEPTH:
        raise ImportProblem("Zip files inside a zip inside a zip are not imported")

    def member(member_name: str, content: bytes, member_depth: int, _: ZipBudget) -> list[Source]:
        kind = file_type(member_name)
        return _extract(kind, member_name, content, limits, None, member_depth, budget)

    sources = extract_zip(name, data, limits, budget, depth, _supported, member)
    if not sources:
        names = ", ".join(SUPPORTED_TYPES)
        raise ImportProblem(f"The zip file has no files that can be imported ({names})")
    return sources
