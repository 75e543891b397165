"""Question-and-answer files (.csv, .json): one document per question, the answer as its body."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping

from chatmina.knowledge.parsers.documents import (
    EMPTY,
    ImportProblem,
    ParsedDocument,
    Source,
    clean_tags,
)
from chatmina.knowledge.parsers.markdown import http_url
from chatmina.knowledge.parsers.text import decode_text, tidy

QUESTION_COLUMNS = ("question", "q", "title")
ANSWER_COLUMNS = ("answer", "a", "body")
TAG_COLUMNS = ("tags", "tag", "keywords", "labels")
URL_COLUMNS = ("url", "link", "source_url", "source")
_MAX_NAME = 200


def _pick(columns: Iterable[str], names: tuple[str, ...]) -> str | None:
    available = {c.strip().lower(): c for c in columns if isinstance(c, str)}
    return next((available[n] for n in names if n in available), None)


_FIELD_NAMES = f"{' or '.join(QUESTION_COLUMNS)}, and {' or '.join(ANSWER_COLUMNS)}"
NO_COLUMNS = f"The CSV file has no question and answer columns: name them {_FIELD_NAMES}"


class _Pairs:
    """Turns records into Sources, keeping names unique and problems per record."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sources: list[Source] = []
        self.seen: dict[str, str] = {}

    def add(self, where: str, record: Mapping[str, object], columns: dict[str, str | None]) -> None:
        question = _cell(record, columns["question"])
        answer = _cell(record, columns["answer"])
        if not question and not answer:
            return  # blank rows are spacing, not mistakes
        if not question or not answer:
            missing = "question" if not question else "answer"
            self.sources.append(Source(f"{self.name}#{where}", None, f"{where} has no {missing}"))
            return
        title = " ".join(question.split())
        source_name = f"{self.name}#{title[:_MAX_NAME]}"
        if source_name in self.seen:
            error = f"{where} repeats the question of {self.seen[source_name]}; not imported"
            self.sources.append(Source(f"{self.name}#{where}", None, error))
            return
        self.seen[source_name] = where
        document = ParsedDocument(
            title=title,
            body=tidy(answer),
            source_url=http_url(record.get(columns["url"] or "")),
            tags=clean_tags(record.get(columns["tags"] or "")),
        )
        self.sources.append(Source(source_name, document))


def _cell(record: Mapping[str, object], column: str | None) -> str:
    value = record.get(column) if column else None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _column_map(columns: Iterable[str]) -> dict[str, str | None]:
    columns = list(columns)
    return {
        "question": _pick(columns, QUESTION_COLUMNS),
        "answer": _pick(columns, ANSWER_COLUMNS),
        "tags": _pick(columns, TAG_COLUMNS),
        "url": _pick(columns, URL_COLUMNS),
    }


def parse_qa_csv(name: str, data: bytes) -> list[Source]:
    text = decode_text(data, ".csv")
    if not text.strip():
        raise ImportProblem(EMPTY)
    header_line = text.lstrip("\n").split("\n", 1)[0]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(header_line, ",;\t|")
    except csv.Error:
        dialect = csv.excel
    # Sniffing guesses quoting too; only the delimiter is worth trusting from one line.
    delimiter = getattr(dialect, "delimiter", ",")
    reader = csv.DictReader(text.lstrip("\n").splitlines(keepends=True), delimiter=delimiter)
    try:
        columns = _column_map(reader.fieldnames or [])
        if not columns["question"] or not columns["answer"]:
            raise ImportProblem(NO_COLUMNS)
        pairs = _Pairs(name)
        # Spreadsheet numbering: the header is row 1, and a cell with line breaks is one row.
        for row, record in enumerate(reader, start=2):
            pairs.add(f"Row {row}", record, columns)
    except csv.Error as error:
        raise ImportProblem(
            f"The CSV file could not be read (line {reader.line_num}: {error})"
        ) from None
    return pairs.sources


def parse_qa_json(name: str, data: bytes) -> list[Source]:
    text = decode_text(data, ".json")
    if not text.strip():
        raise ImportProblem(EMPTY)
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise ImportProblem(
            f"The JSON file is not valid JSON (line {error.lineno}, column {error.colno}: "
            f"{error.msg})"
        ) from None
    except RecursionError:
        raise ImportProblem("The JSON file is nested too deeply to read") from None
    items = parsed.get("items") if isinstance(parsed, dict) else parsed
    if not isinstance(items, list):
        raise ImportProblem(
            'The JSON file must hold a list of {"question": …, "answer": …} objects, '
            'or an object with such a list under "items"'
        )
    pairs = _Pairs(name)
    for number, item in enumerate(items, start=1):
        where = f"Item {number}"
        if not isinstance(item, dict):
            pairs.sources.append(Source(f"{name}#{where}", None, f"{where} is not an object"))
            continue
        columns = _column_map(item.keys())
        if not columns["question"] and not columns["answer"]:
            problem = f"{where} has no question and answer fields ({_FIELD_NAMES})"
            pairs.sources.append(Source(f"{name}#{where}", None, problem))
            continue
        pairs.add(where, item, columns)
    return pairs.sources
