"""File parsers: every supported format becomes Markdown, and every bad file becomes a clear
per-file error while the rest of the upload still imports."""

from __future__ import annotations

import codecs
import time
import zipfile

import pytest

from chatmina.knowledge.parsers import ImportLimits, ParsedDocument, Source, extract
from tests.knowledge.builders import (
    claim_size,
    docx,
    mark_encrypted,
    paragraph,
    pdf,
    table,
    zip_of,
)


def only_document(sources: list[Source]) -> ParsedDocument:
    assert len(sources) == 1, sources
    assert sources[0].error is None, sources[0].error
    assert sources[0].document is not None
    return sources[0].document


def only_error(sources: list[Source]) -> str:
    assert len(sources) == 1, sources
    assert sources[0].document is None
    assert sources[0].error
    return sources[0].error


# -- Markdown and text ---------------------------------------------------------------------


def test_markdown_title_comes_from_the_first_heading_and_front_matter_is_honoured() -> None:
    data = (
        b"---\ntitle: From front matter\ntags: [billing, refunds]\n"
        b"url: https://help.example.com/refunds\n---\n\n# Refunds\r\n\r\nWithin 30 days.\n"
    )
    document = only_document(extract("refunds.md", data))
    assert document.title == "Refunds"
    assert document.body == "# Refunds\n\nWithin 30 days."
    assert document.tags == ("billing", "refunds")
    assert document.source_url == "https://help.example.com/refunds"


def test_markdown_title_falls_back_to_front_matter_then_to_the_file_name() -> None:
    front = b"---\ntitle: 'Shipping times'\ntags:\n  - shipping\n  - eu\n---\nParcels arrive.\n"
    document = only_document(extract("guides/shipping.md", front))
    assert (document.title, document.tags, document.body) == (
        "Shipping times",
        ("shipping", "eu"),
        "Parcels arrive.",
    )
    assert only_document(extract("getting-started.markdown", b"Hello.")).title == "Getting started"


def test_a_thematic_break_at_the_top_is_not_mistaken_for_front_matter() -> None:
    data = b"---\nJust a paragraph between rules.\n---\n\nMore text.\n"
    document = only_document(extract("rules.md", data))
    assert "Just a paragraph between rules." in document.body


def test_markdown_headings_in_code_fences_are_not_titles_and_setext_headings_become_atx() -> None:
    data = b"```sh\n# install the tool\n```\n\nInstalling\n==========\n\nRun it.\n\nUsage\n-----\n"
    document = only_document(extract("install.md", data))
    assert document.title == "Installing"
    assert "# Installing\n\nRun it.\n\n## Usage" in document.body
    assert "```sh\n# install the tool\n```" in document.body


def test_text_keeps_paragraphs_and_cannot_invent_headings() -> None:
    data = b"First line\nsecond line\n\n\n\n# not a heading\n```\n"
    document = only_document(extract("notes/read-me_first.txt", data))
    assert document.title == "Read me first"
    assert document.body == "First line\nsecond line\n\n\\# not a heading\n\\```"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("Café crème \u2013 €5".encode("cp1252"), "Café crème \u2013 €5"),
        ("Grüße".encode("latin-1"), "Grüße"),
        (codecs.BOM_UTF16_LE + "Ünïcode text".encode("utf-16-le"), "Ünïcode text"),
        (codecs.BOM_UTF16_BE + "Ünïcode text".encode("utf-16-be"), "Ünïcode text"),
        ("Ünïcode text".encode("utf-16-le"), "Ünïcode text"),
        (codecs.BOM_UTF8 + "naïve".encode(), "naïve"),
        ("日本語のテキスト".encode(), "日本語のテキスト"),
    ],
    ids=[
        "cp1252",
        "latin-1",
        "utf-16-le-bom",
        "utf-16-be-bom",
        "utf-16-no-bom",
        "utf-8-bom",
        "cjk",
    ],
)
def test_text_in_other_encodings_is_decoded(data: bytes, expected: str) -> None:
    assert only_document(extract("note.txt", data)).body == expected


@pytest.mark.parametrize("name", ["photo.txt", "photo.md", "photo.csv", "photo.html"])
def test_binary_content_with_a_text_name_is_refused(name: str) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8
    kind = name[name.rindex(".") :]
    assert only_error(extract(name, png)) == f"This file is not text (binary content named {kind}?)"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty.md", b""),
        ("blank.txt", b" \n\r\n\t"),
        ("blank.pdf", b""),
        ("front-matter-only.md", b"---\ntitle: Nothing\n---\n"),
        ("scripts-only.html", b"<script>x()</script><nav>Menu</nav>"),
        ("empty.docx", docx("")),
    ],
)
def test_an_empty_file_says_so(name: str, data: bytes) -> None:
    assert only_error(extract(name, data)) == "The file is empty"


def test_a_file_over_the_limit_names_the_limit_in_megabytes() -> None:
    limits = ImportLimits(max_file_bytes=1024 * 1024)
    error = only_error(extract("big.md", b"a" * (1024 * 1024 + 1), limits))
    assert error == "The file is larger than the 1 MB limit"
    assert only_document(extract("fits.md", b"a" * (1024 * 1024), limits))


@pytest.mark.parametrize("name", ["setup.exe", "slides.pptx", "README"])
def test_an_unknown_type_lists_the_supported_ones(name: str) -> None:
    error = only_error(extract(name, b"whatever"))
    assert "cannot be imported" in error
    assert ".md, .markdown, .txt, .html, .htm, .pdf, .docx, .csv, .json, .zip" in error


def test_parsing_a_5_kb_markdown_file_takes_well_under_a_millisecond() -> None:
    article = (
        "## Section\n\n" + "Words that make up a help article. " * 20 + "\n\n- a\n- b\n\n"
    ) * 6
    data = ("---\ntitle: Help\n---\n# Help\n\n" + article).encode()
    assert 4000 < len(data) < 6000
    runs = []
    for _ in range(30):
        started = time.perf_counter()
        extract("help.md", data)
        runs.append(time.perf_counter() - started)
    assert sorted(runs)[len(runs) // 2] < 0.001


# -- HTML ----------------------------------------------------------------------------------

PAGE = b"""<!doctype html><html><head><title>Refunds - Acme Help</title>
<link rel="canonical" href="https://help.acme.test/refunds"><style>p { color: red }</style>
<script>document.cookie = "stolen"</script></head>
<body onload="track()"><header><nav><a href="/">Home</a> <a href="/plans">Plans</a></nav></header>
<main><article><header><h1>Refunds</h1><p>Updated in May</p></header>
<p onclick="steal()">We refund within <b>5 days</b>.<br>Ask <a href="javascript:evil()">us</a>
&amp; we help.</p>
<h2>How to ask</h2><ol><li>Open <em>Billing</em></li><li>Choose the order<ul><li>Card</li>
<li>PayPal</li></ul></li></ol>
<table><tr><th>Plan</th><th>Refund</th></tr><tr><td>Basic | monthly</td><td>30 days</td></tr>
<tr><td>Pro<td>60 days</table>
<pre><code>curl -X POST /refunds
  --data '{"order": 1}'</code></pre>
<p>Run <code>refund --all</code> to refund everything.</p>
<form><input name="q"><button onclick="x()">Search</button></form>
<noscript>Enable JavaScript</noscript><iframe src="https://ads.test"></iframe>
<svg><text>chart label</text></svg></article></main>
<footer>Copyright Acme</footer></body></html>"""


def test_html_becomes_markdown_without_scripts_handlers_or_site_chrome() -> None:
    document = only_document(extract("refunds.html", PAGE))
    assert document.title == "Refunds - Acme Help"
    assert document.source_url == "https://help.acme.test/refunds"
    assert document.body == (
        "# Refunds\n\nUpdated in May\n\nWe refund within 5 days.\nAsk us & we help.\n\n"
        "## How to ask\n\n1. Open Billing\n2. Choose the order\n  - Card\n  - PayPal\n\n"
        "| Plan | Refund |\n| --- | --- |\n| Basic \\| monthly | 30 days |\n| Pro | 60 days |\n\n"
        "```\ncurl -X POST /refunds\n  --data '{\"order\": 1}'\n```\n\n"
        "Run `refund --all` to refund everything."
    )
    for leaked in (
        "stolen",
        "steal",
        "track",
        "onclick",
        "javascript",
        "evil",
        "Home",
        "Copyright",
        "Search",
        "Enable JavaScript",
        "chart label",
        "color",
    ):
        assert leaked not in document.body


def test_html_accordion_questions_in_buttons_are_kept() -> None:
    data = (
        b'<div class="accordion"><h2 class="accordion-header"><button type="button" '
        b'onclick="toggle()">Can I pay by invoice?</button></h2>'
        b'<div class="accordion-body" style="display:none"><p>Yes, on the Pro plan.</p></div>'
        b"</div>"
    )
    document = only_document(extract("faq.html", data))
    assert document.body == "## Can I pay by invoice?\n\nYes, on the Pro plan."


def test_html_title_falls_back_to_the_first_h1_and_page_url_to_og_url() -> None:
    data = (
        b'<meta property="og:url" content="https://acme.test/shipping">'
        b"<h2>Intro</h2><h1>Shipping</h1><p>Fast.</p>"
    )
    document = only_document(extract("shipping.htm", data))
    assert (document.title, document.source_url) == ("Shipping", "https://acme.test/shipping")
    unsafe = b'<link rel="canonical" href="javascript:alert(1)"><p>Text</p>'
    assert only_document(extract("page.html", unsafe)).source_url == ""


def test_html_charset_declared_in_a_meta_tag_is_used() -> None:
    data = '<meta charset="windows-1252"><p>Prix : 5 € \u2013 TTC</p>'.encode("cp1252")
    assert only_document(extract("prix.html", data)).body == "Prix : 5 € \u2013 TTC"


# -- PDF -----------------------------------------------------------------------------------


def test_pdf_text_of_every_page_becomes_the_body() -> None:
    data = pdf(["Refunds take five days.", "Ask support."], ["Page two text."], title="Refunds")
    document = only_document(extract("refunds.pdf", data))
    assert document.title == "Refunds"
    assert document.body == "Refunds take five days.\nAsk support.\n\nPage two text."
    assert only_document(extract("user-guide.pdf", pdf(["Hi"]))).title == "User guide"


def test_a_password_protected_pdf_is_refused_and_an_owner_only_one_imports() -> None:
    assert only_error(extract("locked.pdf", pdf(["Secret"], password="s3cret"))) == (
        "The PDF is password-protected"
    )
    # An empty user password opens in every viewer; only printing or copying is restricted.
    assert only_document(extract("open.pdf", pdf(["Open text"], password=""))).body == "Open text"


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.7\n1 0 obj garbage", pdf(["Cut short"])[:300], b"not a pdf at all"],
    ids=["garbage", "truncated", "not-pdf"],
)
def test_a_damaged_pdf_is_refused(data: bytes) -> None:
    assert only_error(extract("broken.pdf", data)) == "The PDF could not be read (damaged file?)"


def test_a_pdf_without_text_asks_for_text_recognition() -> None:
    assert "no text" in only_error(extract("scan.pdf", pdf([])))


# -- Word ----------------------------------------------------------------------------------


def test_docx_headings_lists_and_tables_become_markdown() -> None:
    body = (
        paragraph("Returns guide", style="Title")
        + paragraph("Before you start", style="Heading1")
        + paragraph("Keep the ", "receipt", ".")
        + paragraph("Steps", style="Heading2")
        + paragraph("Pack the item", list_level=0)
        + paragraph("Use the box", list_level=1)
        + paragraph("Post it", list_level=0)
        + table([["Item", "Days"], ["Shoes", "30"], ["Gift | card", "0"]])
        + "<w:p><w:r><w:t>Kept</w:t></w:r><w:del><w:r><w:delText>gone</w:delText></w:r></w:del>"
        + "<w:r><w:tab/><w:t>text</w:t></w:r></w:p>"
    )
    document = only_document(extract("returns.docx", docx(body)))
    assert document.title == "Returns guide"
    assert document.body == (
        "# Returns guide\n\n# Before you start\n\nKeep the receipt.\n\n## Steps\n\n"
        "- Pack the item\n  - Use the box\n- Post it\n\n"
        "| Item | Days |\n| --- | --- |\n| Shoes | 30 |\n| Gift \\| card | 0 |\n\nKept text"
    )


def test_docx_headings_are_found_by_style_name_in_localized_documents() -> None:
    styles = (
        '<w:style w:type="paragraph" w:styleId="berschrift1"><w:name w:val="heading 1"/>'
        "</w:style>"
        '<w:style w:type="paragraph" w:styleId="Eigene"><w:name w:val="Eigene"/>'
        '<w:basedOn w:val="berschrift2"/></w:style>'
        '<w:style w:type="paragraph" w:styleId="berschrift2"><w:name w:val="heading 2"/>'
        "</w:style>"
    )
    body = (
        paragraph("Rückgabe", style="berschrift1")
        + paragraph("Fristen", style="Eigene")
        + paragraph("30 Tage")
    )
    document = only_document(extract("rueckgabe.docx", docx(body, styles, title="Rückgaben")))
    assert document.title == "Rückgaben"
    assert document.body == "# Rückgabe\n\n## Fristen\n\n30 Tage"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"PK\x03\x04 truncated", "The Word file could not be read (damaged file?)"),
        (zip_of({"word/other.xml": "<x/>"}), "The Word file could not be read (damaged file?)"),
        (
            zip_of({"word/document.xml": '<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'}),
            "The Word file could not be read (damaged file?)",
        ),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512,
            "The Word file is password-protected (or an old .doc file renamed to .docx)",
        ),
    ],
    ids=["truncated", "no-document", "dtd", "encrypted"],
)
def test_a_damaged_or_protected_docx_is_refused(data: bytes, error: str) -> None:
    assert only_error(extract("broken.docx", data)) == error


# -- questions and answers -----------------------------------------------------------------


def test_csv_rows_become_one_document_per_question() -> None:
    data = (
        b"Q,A,Tags,URL\n"
        b'How long do refunds take?,"Five days.\n\nSometimes less.","billing, refunds",'
        b"https://acme.test/refunds\n"
        b"Do you ship abroad?,Yes.,,javascript:alert(1)\n"
        b",\n"
        b"Can I pay later?,\n"
        b"How long do refunds take?,Duplicate.\n"
    )
    sources = extract("faq.csv", data)
    assert [s.name for s in sources] == [
        "faq.csv#How long do refunds take?",
        "faq.csv#Do you ship abroad?",
        "faq.csv#Row 5",
        "faq.csv#Row 6",
    ]
    refunds, abroad, no_answer, duplicate = sources
    assert refunds.document == ParsedDocument(
        title="How long do refunds take?",
        body="Five days.\n\nSometimes less.",
        source_url="https://acme.test/refunds",
        tags=("billing", "refunds"),
    )
    assert abroad.document is not None and abroad.document.source_url == ""
    assert no_answer.error == "Row 5 has no answer"
    assert duplicate.error == "Row 6 repeats the question of Row 2; not imported"


def test_csv_with_semicolons_and_other_column_names_is_understood() -> None:
    data = "\ufeffquestion;answer\nWhere is my parcel?;Track it in your account.\n".encode()
    document = only_document(extract("faq.csv", data))
    assert (document.title, document.body) == ("Where is my parcel?", "Track it in your account.")


def test_csv_without_a_question_column_is_refused_with_the_names_it_accepts() -> None:
    error = only_error(extract("faq.csv", b"topic,text\nRefunds,Five days\n"))
    assert error == (
        "The CSV file has no question and answer columns: name them "
        "question or q or title, and answer or a or body"
    )


def test_json_questions_in_a_list_or_under_items() -> None:
    as_list = b'[{"question": "Opening hours?", "answer": "9 to 5.", "tags": ["hours"]}]'
    document = only_document(extract("faq.json", as_list))
    assert (document.title, document.body, document.tags) == (
        "Opening hours?",
        "9 to 5.",
        ("hours",),
    )
    under_items = (
        b'{"items": [{"q": "Phone?", "a": "555-0100", "url": "https://acme.test/contact"},'
        b' "oops", {"title": "No answer"}, {"colour": "red"}]}'
    )
    sources = extract("faq.json", under_items)
    assert sources[0].document is not None
    assert sources[0].document.source_url == "https://acme.test/contact"
    assert [(s.name, s.error) for s in sources[1:]] == [
        ("faq.json#Item 2", "Item 2 is not an object"),
        ("faq.json#Item 3", "Item 3 has no answer"),
        (
            "faq.json#Item 4",
            "Item 4 has no question and answer fields (question or q or title, and answer or a "
            "or body)",
        ),
    ]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (
            b'[{"question": "A?",\n "answer": "B",}]',
            "The JSON file is not valid JSON (line 2, column 16: Expecting property name "
            "enclosed in double quotes)",
        ),
        (b'{"faq": []}', "must hold a list"),
        (b"[]", "The file has no questions with answers"),
    ],
    ids=["malformed", "wrong-shape", "no-items"],
)
def test_bad_json_is_refused_clearly(data: bytes, error: str) -> None:
    assert error in only_error(extract("faq.json", data))


# -- zips ----------------------------------------------------------------------------------


def test_every_bad_file_in_a_zip_gets_its_own_error_and_the_good_ones_import() -> None:
    inner = zip_of(
        {"inner.md": "# Inner\n\nFrom a nested zip.", "deeper.zip": zip_of({"x.md": "x"})}
    )
    archive = zip_of(
        {
            "good.md": "# Good\n\nImported.",
            "guides/setup.txt": "Plug it in.",
            "corrupt.pdf": b"%PDF-1.4 broken",
            "locked.pdf": pdf(["secret"], password="pw"),
            "binary.txt": bytes(range(256)) * 4,
            "windows.txt": "Caf\xe9".encode("cp1252"),
            "utf16.md": codecs.BOM_UTF16_LE + "# Wide\n\nText".encode("utf-16-le"),
            "empty.md": b"",
            "script.html": b"<p onclick='x()'>Safe text</p><script>alert(1)</script>",
            "no-columns.csv": b"topic,text\nA,B\n",
            "bad.json": b"{not json",
            "../escape.md": "# Outside",
            "/etc/absolute.md": "# Absolute",
            "C:/drive.md": "# Drive",
            "locked.md": "# Locked",
            "bomb.txt": b"0" * (3 * 1024 * 1024),
            "nested.zip": inner,
            "__MACOSX/._good.md": b"\x00\x05\x16\x07",
            ".hidden/notes.md": "# Hidden",
            "images/logo.png": b"\x89PNG",
            "folder/": b"",
        }
    )
    results = {s.name: s for s in extract("help.zip", mark_encrypted(archive, "locked.md"))}

    def error(member: str) -> str | None:
        return results[f"help.zip/{member}"].error

    def title(member: str) -> str:
        document = results[f"help.zip/{member}"].document
        assert document is not None, error(member)
        return document.title

    assert title("good.md") == "Good"
    assert title("guides/setup.txt") == "Setup"
    assert title("windows.txt") == "Windows"
    assert title("utf16.md") == "Wide"
    assert title("nested.zip/inner.md") == "Inner"
    script = results["help.zip/script.html"].document
    assert script is not None and script.body == "Safe text"
    assert error("corrupt.pdf") == "The PDF could not be read (damaged file?)"
    assert error("locked.pdf") == "The PDF is password-protected"
    assert error("binary.txt") == "This file is not text (binary content named .txt?)"
    assert error("empty.md") == "The file is empty"
    assert (error("no-columns.csv") or "").startswith("The CSV file has no question and answer")
    assert (error("bad.json") or "").startswith("The JSON file is not valid JSON")
    for unsafe in ("../escape.md", "etc/absolute.md", "C:/drive.md"):
        assert "Unsafe path" in (error(unsafe) or "")
    assert error("locked.md") == "This file is password-protected inside the zip"
    assert "zip bomb" in (error("bomb.txt") or "")
    assert error("nested.zip/deeper.zip") == "Zip files inside a zip inside a zip are not imported"
    assert sorted(results) == sorted(
        f"help.zip/{name}"
        for name in (
            "good.md", "guides/setup.txt", "corrupt.pdf", "locked.pdf", "binary.txt",
            "windows.txt", "utf16.md", "empty.md", "script.html", "no-columns.csv", "bad.json",
            "../escape.md", "etc/absolute.md", "C:/drive.md", "locked.md", "bomb.txt",
            "nested.zip/inner.md", "nested.zip/deeper.zip",
        )
    )  # fmt: skip


def test_a_zip_whose_header_understates_a_members_size_is_still_bounded() -> None:
    archive = zip_of({"ok.md": "# Fine", "liar.txt": b"0" * (3 * 1024 * 1024)})
    results = {s.name: s for s in extract("liar.zip", claim_size(archive, "liar.txt", 1000))}
    assert results["liar.zip/ok.md"].document is not None
    assert results["liar.zip/liar.txt"].document is None
    assert results["liar.zip/liar.txt"].error


def test_a_zip_that_expands_past_the_total_stops_with_a_clear_error() -> None:
    words = " ".join(f"w{i}" for i in range(50_000)).encode()  # 339 KB, barely compressible
    members = {f"{letter}.txt": words for letter in "abcde"}
    limits = ImportLimits(max_zip_total_bytes=1024 * 1024)
    sources = extract("many.zip", zip_of(members), limits)
    assert [s.name for s in sources] == [f"many.zip/{letter}.txt" for letter in "abcd"]
    assert all(s.document for s in sources[:3])
    assert sources[3].error == (
        "The zip file expands to more than 1 MB; this and the remaining files were not imported"
    )


def test_a_zip_with_too_many_entries_is_refused() -> None:
    archive = zip_of({f"page{i}.md": f"# Page {i}" for i in range(11)})
    error = only_error(extract("many.zip", archive, ImportLimits(max_zip_members=10)))
    assert error == "The zip file has 11 entries; the limit is 10"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"PK\x03\x04 not really", "The zip file could not be read (damaged file?)"),
        (zip_of({"logo.png": b"x", "style.css": "a{}"}), "The zip file has no files that can"),
    ],
)
def test_a_zip_with_nothing_to_import_says_why(data: bytes, error: str) -> None:
    assert only_error(extract("site.zip", data)).startswith(error)


def test_stored_members_are_read_too() -> None:
    archive = zip_of({"plain.md": "# Stored\n\nNot compressed."}, zipfile.ZIP_STORED)
    assert only_document(extract("stored.zip", archive)).title == "Stored"
