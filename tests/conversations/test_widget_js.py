"""GET /widget.js and the demo page, over the app's test client.

The size target (25 KB gzipped) is measured by tests/perf/widget_size.py, not here.
"""

from __future__ import annotations

import gzip
import html
import json
import re
from html.parser import HTMLParser

import pytest

from chatmina.accounts import service as accounts
from chatmina.conversations.strings import DEFAULT_STRINGS
from chatmina.conversations.widget_js import WIDGET_FILE
from chatmina.ui.context import Services
from tests.conftest import Browser, Personas

SOURCE = WIDGET_FILE.read_text(encoding="utf-8")
# The SVG namespace is a name, not an address: nothing is fetched from it.
NOT_FETCHED = {"http://www.w3.org/2000/svg"}


def test_it_serves_the_widget_as_javascript_with_an_etag_and_a_short_cache(
    client: Browser,
) -> None:
    response = client.get("/widget.js", headers={"accept-encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=300, must-revalidate"
    assert re.fullmatch(r'"[0-9a-f]{16}"', response.headers["etag"])
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert "content-encoding" not in response.headers
    assert response.text == SOURCE


def test_it_sets_no_cookie_even_for_a_first_time_visitor(client: Browser) -> None:
    response = client.get("/widget.js")
    assert "set-cookie" not in response.headers
    assert not client.cookies


def test_it_sends_gzip_to_browsers_that_accept_it(client: Browser) -> None:
    response = client.get("/widget.js", headers={"accept-encoding": "gzip, deflate, br"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["etag"].endswith('-gz"')
    # httpx undoes the encoding: the bytes on the wire were gzip of the same file.
    assert response.text == SOURCE
    assert int(response.headers["content-length"]) < len(gzip.compress(SOURCE.encode())) + 64


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_it_answers_304_to_a_browser_that_has_the_same_file(client: Browser, encoding: str) -> None:
    first = client.get("/widget.js", headers={"accept-encoding": encoding})
    again = client.get(
        "/widget.js",
        headers={"accept-encoding": encoding, "if-none-match": first.headers["etag"]},
    )
    assert again.status_code == 304
    assert again.content == b""
    other = client.get(
        "/widget.js", headers={"accept-encoding": encoding, "if-none-match": '"stale"'}
    )
    assert other.status_code == 200


def test_the_widget_fetches_nothing_from_the_internet() -> None:
    addresses = set(re.findall(r"""https?://[^\s"'`)\\]+""", SOURCE))
    assert addresses <= NOT_FETCHED
    assert "import(" not in SOURCE and not re.search(r"^\s*import\s", SOURCE, re.M)


def test_the_widget_never_parses_text_as_html() -> None:
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        'setAttribute("style"',
        ".style.",
    ):
        assert sink not in SOURCE, sink


def test_the_widget_falls_back_to_the_same_english_texts_the_server_sends() -> None:
    # The widget needs texts before /config answers (a refused origin) and for a key an
    # older server does not send; they must not drift from the server's.
    start = SOURCE.index("var EN = {")
    block = SOURCE[start : SOURCE.index("};", start)]
    fallback = {
        key: json.loads(value)
        for key, value in re.findall(r'^\s+(\w+): ("(?:[^"\\]|\\.)*"),$', block, re.M)
    }
    assert fallback == DEFAULT_STRINGS


# -- the demo page -----------------------------------------------------------------------


class Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts.append(dict(attrs))
            self._in_script = True
        if any(name.startswith("on") or name == "style" for name, _ in attrs):
            self.inline.append(f"{tag} {attrs}")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False if tag == "script" else self._in_script

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data)


def public_id(services: Services, slug: str) -> str:
    return accounts.workspace_by_slug(services.db, slug).public_id


def test_the_demo_page_embeds_the_widget_with_the_snippet_a_business_pastes(
    client: Browser, services: Services, personas: Personas
) -> None:
    pid = public_id(services, personas.a_slug)
    response = client.get(f"/demo/{pid}")
    assert response.status_code == 200
    base = services.settings.base_url
    snippet = f'<script src="{base}/widget.js" data-workspace="{pid}" async></script>'
    assert response.text.count(snippet) == 1
    assert html.unescape(response.text).count(snippet) == 2  # and once shown as text
    assert "Acme Support Help Center" in response.text
    parser = Scripts()
    parser.feed(response.text)
    assert parser.scripts == [{"src": f"{base}/widget.js", "data-workspace": pid, "async": None}]
    assert parser.inline == []
    assert "set-cookie" not in response.headers


def test_the_demo_page_may_be_framed_by_chatmina_itself_only(
    client: Browser, services: Services, personas: Personas
) -> None:
    response = client.get(f"/demo/{public_id(services, personas.a_slug)}?preview=1")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert "demo-banner" not in response.text  # the preview shows the widget, not the notes


def test_an_unknown_workspace_has_no_demo_page(client: Browser, personas: Personas) -> None:
    response = client.get("/demo/wk_00000000000000000000")
    assert response.status_code == 404
    assert "Acme Support" not in response.text


def test_each_workspace_demo_shows_its_own_name_only(
    client: Browser, services: Services, personas: Personas
) -> None:
    response = client.get(f"/demo/{public_id(services, personas.b_slug)}")
    assert "Bravo Help" in response.text
    assert "Acme Support" not in response.text
