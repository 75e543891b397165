"""HTML pages to Markdown with the standard library's parser.

Only text reaches the body: attributes are never copied, so event handlers and
``javascript:`` links cannot travel into answers, and script-like elements are dropped whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from chatmina.knowledge.parsers.documents import (
    EMPTY,
    ImportProblem,
    ParsedDocument,
    title_from_name,
)
from chatmina.knowledge.parsers.markdown import http_url, join_blocks, pipe_table
from chatmina.knowledge.parsers.text import decode_text, escape_markdown

# Buttons stay: FAQ accordions put their questions in them.
_DROPPED = frozenset(
    {
        "script", "style", "nav", "footer", "header", "noscript", "iframe", "svg", "form",
        "template", "object", "embed", "canvas", "select", "textarea",
    }
)  # fmt: skip
# Site chrome is the page's own header and footer; inside an article they hold its title
# and byline, which belong to the text.
_CHROME = frozenset({"header", "footer"})
_CONTENT_ROOTS = frozenset({"article", "main"})
_BLOCKS = frozenset(
    {
        "p", "div", "section", "article", "main", "aside", "blockquote", "dl", "dt", "dd",
        "figure", "figcaption", "address", "details", "summary", "fieldset", "center", "hr",
        "body", "caption",
    }
)  # fmt: skip
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_CELLS = frozenset({"td", "th"})
_BREAK = "\x00"  # stands for <br> until whitespace is collapsed; decoding removed real NULs
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


@dataclass
class _Table:
    rows: list[list[str]] = field(default_factory=list)
    cell: list[str] | None = None


class _Converter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, str]] = []
        self.inline: list[str] = []
        self.skipping: list[str] = []
        self.title_parts: list[str] | None = None
        self.title = ""
        self.first_h1 = ""
        self.canonical = ""
        self.og_url = ""
        self.content_depth = 0
        self.heading = 0
        self.lists: list[list[int | str]] = []  # [tag, items so far]
        self.list_number = 0
        self.item_prefix = ""
        self.item_indent = ""
        self.pre_parts: list[str] | None = None
        self.table: _Table | None = None
        self.table_depth = 0

    # -- tags -------------------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skipping:
            if tag in _DROPPED:
                self.skipping.append(tag)
            return
        if tag in _DROPPED and not (tag in _CHROME and self.content_depth):
            self.skipping.append(tag)
            return
        if tag in _CONTENT_ROOTS:
            self.content_depth += 1
        if tag in ("meta", "link"):
            self._page_url(tag, dict(attrs))
        elif tag == "title":
            self.title_parts = []
        elif tag == "br":
            self._text(_BREAK)
        elif self.table is not None and self.table_depth == 1 and tag in ("tr", "td", "th"):
            self._start_row_or_cell(tag)
        elif self.table_depth and tag != "table" and self._in_cell():
            self._text(" ")  # blocks inside a cell run together as one line of text
        elif tag in _HEADINGS:
            self._flush()
            self.heading = _HEADINGS[tag]
        elif tag in ("ul", "ol"):
            self._flush()
            if not self.lists:
                self.list_number += 1
            start = dict(attrs).get("start") or "1"
            self.lists.append([tag, int(start) - 1 if start.isdigit() else 0])
        elif tag == "li":
            self._start_item()
        elif tag == "pre":
            self._flush()
            self.pre_parts = []
        elif tag == "code" and self.pre_parts is None:
            self.inline.append("`")
        elif tag == "table":
            self._start_table()
        elif tag in _BLOCKS:
            self._flush()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "meta", "link", "hr", "img"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            if tag in self.skipping:
                while self.skipping.pop() != tag:
                    pass
            return
        if tag in _CONTENT_ROOTS and self.content_depth:
            self.content_depth -= 1
        if tag == "title" and self.title_parts is not None:
            self.title = " ".join("".join(self.title_parts).split())
            self.title_parts = None
        elif tag == "table":
            self._end_table()
        elif tag in ("tr", "td", "th") and self.table is not None and self.table_depth == 1:
            self._end_cell()
        elif self.table_depth and self._in_cell():
            self._text(" ")
        elif tag in _HEADINGS and self.heading:
            self._end_heading()
        elif tag in ("ul", "ol"):
            self._flush()
            if self.lists:
                self.lists.pop()
            # Text after a nested list continues the enclosing item; after the outer list, none.
            self.item_prefix = ""
            self.item_indent = "  " * len(self.lists)
        elif tag == "li":
            self._flush()
            self.item_prefix = self.item_indent = ""
        elif tag == "pre" and self.pre_parts is not None:
            self._end_pre()
        elif tag == "code" and self.pre_parts is None:
            self.inline.append("`")
        elif tag in _BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if self.title_parts is not None:
            self.title_parts.append(data)
        elif self.pre_parts is not None:
            self.pre_parts.append(data)
        else:
            self._text(data)

    def close(self) -> None:
        super().close()
        if self.pre_parts is not None:
            self._end_pre()
        while self.table is not None:
            self._end_table()
        if self.heading:
            self._end_heading()
        self._flush()

    # -- building blocks --------------------------------------------------------------------

    def _in_cell(self) -> bool:
        return self.table is not None and self.table.cell is not None

    def _text(self, data: str) -> None:
        if self.table is not None:
            if self.table.cell is not None:
                self.table.cell.append(" " if data == _BREAK else data)
            return  # whitespace between rows and cells
        self.inline.append(data)

    def _page_url(self, tag: str, attrs: dict[str, str | None]) -> None:
        if tag == "link" and "canonical" in (attrs.get("rel") or "").lower().split():
            self.canonical = self.canonical or http_url(attrs.get("href"))
        elif tag == "meta" and (attrs.get("property") or "").lower() == "og:url":
            self.og_url = self.og_url or http_url(attrs.get("content"))

    def _collapsed(self) -> str:
        lines = "".join(self.inline).split(_BREAK)
        self.inline = []
        return "\n".join(text for line in lines if (text := " ".join(line.split())))

    def _flush(self) -> None:
        if self.heading:
            return  # a block inside a heading stays part of the heading
        text = self._collapsed()
        if not text:
            return
        if self.item_prefix or self.item_indent:
            first = self.item_prefix or self.item_indent
            text = first + text.replace("\n", "\n" + self.item_indent)
            self.item_prefix = ""
            self.blocks.append((f"li{self.list_number}", text))
        else:
            self.blocks.append(("p", escape_markdown(text)))

    def _start_item(self) -> None:
        self._flush()
        depth = max(len(self.lists) - 1, 0)
        marker = "-"
        if self.lists and self.lists[-1][0] == "ol":
            count = int(self.lists[-1][1]) + 1
            self.lists[-1][1] = count
            marker = f"{count}."
        self.item_prefix = "  " * depth + marker + " "
        self.item_indent = "  " * depth + " " * (len(marker) + 1)

    def _end_heading(self) -> None:
        level, self.heading = self.heading, 0
        text = " ".join(self._collapsed().split())
        if text:
            self.blocks.append(("h", "#" * level + " " + text))
            if level == 1 and not self.first_h1:
                self.first_h1 = text

    def _end_pre(self) -> None:
        code = "".join(self.pre_parts or []).strip("\n")
        self.pre_parts = None
        if code.strip():
            longest = max((len(run) for run in re.findall(r"`{3,}", code)), default=2)
            fence = "`" * max(3, longest + 1)
            self.blocks.append(("pre", f"{fence}\n{code.rstrip()}\n{fence}"))

    def _start_table(self) -> None:
        self.table_depth += 1
        if self.table_depth == 1:
            self._flush()
            self.table = _Table()
        else:
            self._text(" ")

    def _start_row_or_cell(self, tag: str) -> None:
        # End tags of rows and cells are optional in HTML: a new one closes the open one.
        assert self.table is not None
        self._end_cell()
        if tag == "tr" or not self.table.rows:
            self.table.rows.append([])
        if tag != "tr":
            self.table.cell = []

    def _end_cell(self) -> None:
        assert self.table is not None
        if self.table.cell is not None:
            if not self.table.rows:
                self.table.rows.append([])
            self.table.rows[-1].append(" ".join("".join(self.table.cell).split()))
            self.table.cell = None

    def _end_table(self) -> None:
        if self.table_depth > 1:
            self.table_depth -= 1
            return
        if self.table is None:
            return
        self._end_cell()
        table, self.table, self.table_depth = self.table, None, 0
        markdown = pipe_table(table.rows)
        if markdown:
            self.blocks.append(("table", markdown))


def charset_hint(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:4096])
    return match.group(1).decode("ascii") if match else None


def html_to_markdown(html: str) -> tuple[str, str, str]:
    """(Markdown body, page title, page URL) from an HTML document."""
    converter = _Converter()
    converter.feed(html)
    converter.close()
    return (
        join_blocks(converter.blocks),
        converter.title or converter.first_h1,
        converter.canonical or converter.og_url,
    )


def parse_html(name: str, data: bytes, kind: str, charset: str | None = None) -> ParsedDocument:
    html = decode_text(data, kind, charset or charset_hint(data))
    body, title, url = html_to_markdown(html)
    if not body.strip():
        raise ImportProblem(EMPTY)
    return ParsedDocument(title=title or title_from_name(name), body=body, source_url=url)
