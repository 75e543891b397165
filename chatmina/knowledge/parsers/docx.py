"""Word (.docx) files, read straight from their XML: headings, list items, tables, paragraphs."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from chatmina.knowledge.parsers.archive import ZipBudget, open_zip, read_member
from chatmina.knowledge.parsers.documents import (
    EMPTY,
    ImportLimits,
    ImportProblem,
    ParsedDocument,
    title_from_name,
)
from chatmina.knowledge.parsers.markdown import join_blocks, pipe_table
from chatmina.knowledge.parsers.text import escape_markdown

DAMAGED = "The Word file could not be read (damaged file?)"
LOCKED = "The Word file is password-protected (or an old .doc file renamed to .docx)"
_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0"  # encrypted Office files are OLE containers, not zips
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"
_P, _TBL, _TR, _TC, _T = _W + "p", _W + "tbl", _W + "tr", _W + "tc", _W + "t"
_VAL = _W + "val"
_BREAKS = frozenset({_W + "br", _W + "cr"})
_SPACES = frozenset({_W + "tab", _W + "ptab"})
# Properties, and text that is no longer in the document (tracked moves, deletions).
_NOT_TEXT = frozenset({_W + "pPr", _W + "rPr", _W + "moveFrom", _W + "del", _W + "instrText"})
_CONTAINERS = frozenset({_W + "sdt", _W + "sdtContent", _W + "customXml", _W + "smartTag"})
_HEADING_NAME = re.compile(r"^heading\s*([1-9])$", re.I)


def _xml(data: bytes) -> ET.Element:
    # Word never writes a DTD; refusing one shuts out entity-expansion tricks entirely.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ImportProblem(DAMAGED)
    try:
        return ET.fromstring(data)  # noqa: S314 - DTDs refused above
    except ET.ParseError:
        raise ImportProblem(DAMAGED) from None


def _level_from_name(name: str) -> int:
    if name.strip().lower() == "title":
        return 1
    match = _HEADING_NAME.match(name.strip())
    return min(int(match.group(1)), 6) if match else 0


def _outline_level(ppr: ET.Element | None) -> int:
    outline = ppr.find(_W + "outlineLvl") if ppr is not None else None
    value = outline.get(_VAL, "") if outline is not None else ""
    return int(value) + 1 if value.isdigit() and int(value) < 6 else 0


def _heading_styles(styles: ET.Element | None) -> dict[str, int]:
    """Heading level per paragraph style id, from the style's built-in name, its outline
    level, or the style it is based on (ids are translated in localized Word, names are not)."""
    if styles is None:
        return {}
    direct: dict[str, int] = {}
    based_on: dict[str, str] = {}
    for style in styles.iter(_W + "style"):
        style_id = style.get(_W + "styleId", "")
        name = style.find(_W + "name")
        level = _level_from_name(name.get(_VAL, "") if name is not None else "")
        direct[style_id] = level or _outline_level(style.find(_W + "pPr"))
        parent = style.find(_W + "basedOn")
        if parent is not None:
            based_on[style_id] = parent.get(_VAL, "")
    levels: dict[str, int] = {}
    for style_id in direct:
        current, hops = style_id, 0
        while not direct.get(current) and current in based_on and hops < 10:
            current, hops = based_on[current], hops + 1
        levels[style_id] = direct.get(current, 0)
    return levels


def _text(element: ET.Element, out: list[str]) -> None:
    for child in element:
        tag = child.tag
        if tag == _T:
            out.append(child.text or "")
        elif tag in _SPACES:
            out.append(" ")
        elif tag in _BREAKS:
            out.append("\n")
        elif tag not in _NOT_TEXT:
            _text(child, out)


def _paragraph_text(paragraph: ET.Element) -> str:
    out: list[str] = []
    _text(paragraph, out)
    lines = "".join(out).split("\n")
    return "\n".join(text for line in lines if (text := " ".join(line.split())))


class _Body:
    def __init__(self, heading_styles: dict[str, int]) -> None:
        self.heading_styles = heading_styles
        self.blocks: list[tuple[str, str]] = []
        self.first_h1 = ""

    def walk(self, container: ET.Element) -> None:
        for element in container:
            if element.tag == _P:
                self.paragraph(element)
            elif element.tag == _TBL:
                self.table(element)
            elif element.tag in _CONTAINERS:
                self.walk(element)

    def paragraph(self, paragraph: ET.Element) -> None:
        text = _paragraph_text(paragraph)
        if not text:
            return
        ppr = paragraph.find(_W + "pPr")
        style = ppr.find(_W + "pStyle") if ppr is not None else None
        style_id = style.get(_VAL, "") if style is not None else ""
        level = self.heading_styles.get(style_id) or _level_from_name(style_id)
        level = level or _outline_level(ppr)
        numbering = ppr.find(_W + "numPr") if ppr is not None else None
        if level:
            heading = " ".join(text.split())
            self.blocks.append(("h", "#" * level + " " + heading))
            if level == 1 and not self.first_h1:
                self.first_h1 = heading
        elif numbering is not None and _list_id(numbering) != "0":
            indent = "  " * _list_depth(numbering)
            item = indent + "- " + text.replace("\n", "\n" + indent + "  ")
            self.blocks.append(("li", item))
        else:
            self.blocks.append(("p", escape_markdown(text)))

    def table(self, table: ET.Element) -> None:
        rows = [
            [" ".join(_paragraph_text(p) for p in cell.iter(_P)) for cell in row.iter(_TC)]
            for row in table.findall(_TR)
        ]
        markdown = pipe_table(rows)
        if markdown:
            self.blocks.append(("table", markdown))


def _list_id(numbering: ET.Element) -> str:
    num_id = numbering.find(_W + "numId")
    return num_id.get(_VAL, "") if num_id is not None else ""


def _list_depth(numbering: ET.Element) -> int:
    ilvl = numbering.find(_W + "ilvl")
    value = ilvl.get(_VAL, "0") if ilvl is not None else "0"
    return min(int(value), 8) if value.isdigit() else 0


def parse_docx(name: str, data: bytes, limits: ImportLimits) -> ParsedDocument:
    if data.startswith(_OLE_SIGNATURE):
        raise ImportProblem(LOCKED)
    budget = ZipBudget(limits.max_zip_total_bytes)
    with open_zip(data, DAMAGED) as archive:
        names = set(archive.namelist())
        if "word/document.xml" not in names:
            raise ImportProblem(DAMAGED)

        def part(path: str) -> ET.Element | None:
            if path not in names:
                return None
            return _xml(read_member(archive, archive.getinfo(path), limits, budget, DAMAGED))

        document = part("word/document.xml")
        styles = part("word/styles.xml")
        core = part("docProps/core.xml")
    assert document is not None
    body_element = document.find(_W + "body")
    reader = _Body(_heading_styles(styles))
    try:
        if body_element is not None:
            reader.walk(body_element)
    except RecursionError:
        raise ImportProblem(DAMAGED) from None
    body = join_blocks(reader.blocks)
    if not body.strip():
        raise ImportProblem(EMPTY)
    title_element = core.find(_DC_TITLE) if core is not None else None
    core_title = " ".join((title_element.text or "").split()) if title_element is not None else ""
    return ParsedDocument(title=core_title or reader.first_h1 or title_from_name(name), body=body)
