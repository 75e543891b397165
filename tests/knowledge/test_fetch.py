"""URL imports against a real website on 127.0.0.1: pages by content type, robots.txt,
refused addresses, redirects, limits, and sitemaps (plain, gzipped, indexes)."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator

import pytest

from chatmina.knowledge.fetch import fetch_sitemap, fetch_url
from chatmina.knowledge.parsers import ImportLimits, Source
from chatmina.net import Allowlist
from tests.fakes.website import Website
from tests.knowledge.builders import docx, paragraph, pdf

LIMITS = ImportLimits()
ARTICLE = (
    "<html><head><title>Refunds</title><script>steal()</script></head><body><nav>Menu</nav>"
    "<h1>Refunds</h1><p onclick='x()'>Refunds take five days.</p></body></html>"
)


@pytest.fixture
def site() -> Iterator[Website]:
    with Website() as website:
        website.add("/refunds", ARTICLE)
        yield website


def allow(*sites: Website) -> Allowlist:
    return Allowlist.parse(",".join(s.address for s in sites))


def only(sources: list[Source]) -> Source:
    assert len(sources) == 1, sources
    return sources[0]


def test_a_page_is_imported_under_its_url(site: Website) -> None:
    source = only(fetch_url(site.url("/refunds"), allowlist=allow(site), limits=LIMITS))
    assert source.error is None
    assert source.name == site.url("/refunds")
    assert source.document is not None
    assert source.document.title == "Refunds"
    assert source.document.body == "# Refunds\n\nRefunds take five days."
    assert source.document.source_url == site.url("/refunds")
    page_request = site.requests[-1]
    assert (page_request.path, page_request.headers["user-agent"]) == ("/refunds", "Chatmina")


def test_a_local_site_is_refused_unless_allowlisted(site: Website) -> None:
    source = only(fetch_url(site.url("/refunds"), allowlist=Allowlist(), limits=LIMITS))
    assert source.document is None
    assert source.error == "127.0.0.1 is a loopback address"
    assert site.requests == []


def test_a_redirect_is_followed_and_the_final_url_names_the_page(site: Website) -> None:
    site.redirect("/old-refunds", "/refunds", status=301)
    source = only(fetch_url(site.url("/old-refunds#top"), allowlist=allow(site), limits=LIMITS))
    assert source.name == site.url("/refunds")
    assert source.document is not None and source.document.source_url == site.url("/refunds")


def test_a_redirect_to_a_private_address_is_refused(site: Website) -> None:
    site.redirect("/intranet", "http://192.168.1.10/wiki")
    source = only(fetch_url(site.url("/intranet"), allowlist=allow(site), limits=LIMITS))
    assert source.document is None
    assert source.error == (
        f"{site.url('/intranet')} redirects to http://192.168.1.10/wiki, "
        "but 192.168.1.10 is a private address"
    )


def test_a_redirect_loop_is_reported(site: Website) -> None:
    site.redirect("/a", "/b")
    site.redirect("/b", "/a")
    source = only(fetch_url(site.url("/a"), allowlist=allow(site), limits=LIMITS))
    assert "redirects in a loop" in (source.error or "")


def test_a_page_over_the_size_limit_is_refused(site: Website) -> None:
    site.add("/huge", "<p>" + "word " * 300_000 + "</p>", chunked=True)
    limits = ImportLimits(max_file_bytes=1024 * 1024)
    source = only(fetch_url(site.url("/huge"), allowlist=allow(site), limits=limits))
    assert source.error == "The page is larger than the 1 MB limit"


def test_robots_txt_is_respected(site: Website) -> None:
    site.add("/robots.txt", "User-agent: *\nDisallow: /private\n", "text/plain")
    site.add("/private/prices", "<p>Secret prices</p>")
    refused = only(fetch_url(site.url("/private/prices"), allowlist=allow(site), limits=LIMITS))
    assert refused.error == "The site's robots.txt does not allow Chatmina to fetch this page"
    assert "/private/prices" not in site.paths()
    assert only(fetch_url(site.url("/refunds"), allowlist=allow(site), limits=LIMITS)).document


def test_robots_txt_rules_for_chatmina_by_name_apply(site: Website) -> None:
    site.add("/robots.txt", "User-agent: Chatmina\nDisallow: /\n\nUser-agent: *\nAllow: /\n")
    source = only(fetch_url(site.url("/refunds"), allowlist=allow(site), limits=LIMITS))
    assert "robots.txt does not allow Chatmina" in (source.error or "")


def test_a_site_whose_robots_txt_fails_is_not_fetched(site: Website) -> None:
    site.add("/robots.txt", "down", "text/plain", status=503)
    source = only(fetch_url(site.url("/refunds"), allowlist=allow(site), limits=LIMITS))
    assert "robots.txt could not be read (503)" in (source.error or "")
    assert site.paths() == ["/robots.txt"]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (404, "The page was not found (404 Not Found)"),
        (403, "The page is not public (403 Forbidden)"),
        (500, "The site had a problem (500 Internal Server Error); try again later"),
    ],
)
def test_error_statuses_become_clear_errors(site: Website, status: int, error: str) -> None:
    site.add("/page", "nope", status=status)
    assert only(fetch_url(site.url("/page"), allowlist=allow(site), limits=LIMITS)).error == error


def test_pages_are_parsed_by_their_content_type(site: Website) -> None:
    site.add("/guide", "# Guide\n\nStep one.", "text/markdown; charset=utf-8")
    site.add("/notes.md", "# Notes\n\nPlain.", "text/plain")
    site.add("/readme", "Just text.\n# not a heading", "text/plain")
    site.add("/manual", pdf(["Manual text."], title="Manual"), "application/pdf")
    site.add("/export.md", "# Export\n\nBytes.", "application/octet-stream")
    word = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    site.add("/policy", docx(paragraph("Policy", style="Heading1") + paragraph("Be kind.")), word)
    site.add("/latin", "<p>Caf\xe9</p>".encode("latin-1"), "text/html; charset=ISO-8859-1")
    site.add("/logo", b"\x89PNG\r\n", "image/png")
    paths = ("/guide", "/notes.md", "/readme", "/manual", "/export.md", "/policy", "/latin")
    results = {
        path: only(fetch_url(site.url(path), allowlist=allow(site), limits=LIMITS))
        for path in (*paths, "/logo")
    }
    bodies = {path: s.document.body for path, s in results.items() if s.document}
    assert bodies == {
        "/guide": "# Guide\n\nStep one.",
        "/notes.md": "# Notes\n\nPlain.",
        "/readme": "Just text.\n\\# not a heading",
        "/manual": "Manual text.",
        "/export.md": "# Export\n\nBytes.",
        "/policy": "# Policy\n\nBe kind.",
        "/latin": "Caf\xe9",
    }
    assert results["/logo"].error == (
        "image/png cannot be imported; pages must be HTML, Markdown, text, PDF or Word"
    )


@pytest.mark.parametrize("url", ["ftp://example.com/faq", "javascript:alert(1)", "not a url"])
def test_only_web_addresses_are_fetched(url: str) -> None:
    source = only(fetch_url(url, allowlist=Allowlist(), limits=LIMITS))
    assert source.error == "Only http:// and https:// addresses can be imported"


def test_an_unreachable_site_is_reported_clearly() -> None:
    with Website() as closed:
        address, url = closed.address, closed.url("/faq")
    source = only(fetch_url(url, allowlist=Allowlist.parse(address), limits=LIMITS))
    assert source.error == "127.0.0.1 refused the connection"


# -- sitemaps ------------------------------------------------------------------------------


def urlset(*urls: str) -> str:
    entries = "".join(f"<url><loc>{u}</loc><lastmod>2024-01-01</lastmod></url>" for u in urls)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">'
        f"{entries}</urlset>"
    )


def sitemap_index(*urls: str) -> str:
    entries = "".join(f"<sitemap><loc>{u}</loc></sitemap>" for u in urls)
    return (
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"{entries}</sitemapindex>"
    )


def test_a_sitemap_index_with_a_gzipped_sitemap_imports_every_page(site: Website) -> None:
    for name in ("shipping", "returns", "private"):
        site.add(f"/{name}", f"<h1>{name.title()}</h1><p>About {name}.</p>")
    site.add("/robots.txt", "User-agent: *\nDisallow: /private\n", "text/plain")
    site.add("/sitemap.xml", sitemap_index(site.url("/pages.xml"), site.url("/more.xml.gz")))
    site.add("/pages.xml", urlset(site.url("/refunds"), site.url("/shipping")), "application/xml")
    more = urlset(site.url("/returns"), site.url("/refunds#dup"), site.url("/private"))
    site.add("/more.xml.gz", gzip.compress(more.encode()), "application/gzip")
    sources = list(fetch_sitemap(site.url("/sitemap.xml"), allowlist=allow(site), limits=LIMITS))
    assert [(s.name, s.document.title if s.document else s.error) for s in sources] == [
        (site.url("/refunds"), "Refunds"),
        (site.url("/shipping"), "Shipping"),
        (site.url("/returns"), "Returns"),
        (
            site.url("/private"),
            "The site's robots.txt does not allow Chatmina to fetch this page",
        ),
    ]
    assert site.paths().count("/robots.txt") == 1, "robots.txt is read once per run"


def test_sitemap_pages_are_fetched_lazily_up_to_the_page_limit(site: Website) -> None:
    for i in range(5):
        site.add(f"/p{i}", f"<h1>Page {i}</h1>")
    site.add("/sitemap.xml", urlset(*(site.url(f"/p{i}") for i in range(5))))
    pages = fetch_sitemap(
        site.url("/sitemap.xml"), allowlist=allow(site), limits=LIMITS, max_pages=3
    )
    first = next(pages)
    assert first.name == site.url("/p0")
    assert "/p1" not in site.paths(), "the next page is fetched only when asked for"
    rest = list(pages)
    assert [s.name for s in rest[:2]] == [site.url("/p1"), site.url("/p2")]
    assert rest[2:] == [
        Source(
            site.url("/sitemap.xml"),
            None,
            "The sitemap lists more than 3 pages; only the first 3 were imported",
        )
    ]
    assert "/p3" not in site.paths()


def test_a_sitemap_cannot_send_the_fetcher_to_another_site(site: Website) -> None:
    with Website() as other:
        other.add("/secret", "<p>Other site</p>")
        site.add("/sitemap.xml", urlset(other.url("/secret"), "http://10.0.0.9/admin"))
        sources = list(
            fetch_sitemap(site.url("/sitemap.xml"), allowlist=allow(site, other), limits=LIMITS)
        )
        assert [s.error for s in sources] == [
            f"The sitemap lists a page of another site than {site.address}",
            f"The sitemap lists a page of another site than {site.address}",
        ]
        assert other.requests == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("<html><p>Not a sitemap</p></html>", "This is not a sitemap"),
        ("<urlset><url><loc>broken", "The sitemap is not valid XML"),
        (
            '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><urlset><url><loc>&a;</loc></url></urlset>',
            "The sitemap is not valid (it declares a DTD)",
        ),
    ],
    ids=["html", "broken-xml", "dtd"],
)
def test_a_broken_sitemap_is_reported(site: Website, body: str, error: str) -> None:
    site.add("/sitemap.xml", body, "application/xml")
    sources = list(fetch_sitemap(site.url("/sitemap.xml"), allowlist=allow(site), limits=LIMITS))
    assert len(sources) == 1
    assert (sources[0].error or "").startswith(error)


def test_a_missing_child_sitemap_does_not_stop_the_others(site: Website) -> None:
    site.add("/pages.xml", urlset(site.url("/refunds")))
    site.add("/sitemap.xml", sitemap_index(site.url("/gone.xml"), site.url("/pages.xml")))
    sources = list(fetch_sitemap(site.url("/sitemap.xml"), allowlist=allow(site), limits=LIMITS))
    assert [(s.name, s.error) for s in sources] == [
        (site.url("/gone.xml"), "The sitemap was not found (404 Not Found)"),
        (site.url("/refunds"), None),
    ]


def test_crawl_delay_spaces_page_fetches_out(site: Website) -> None:
    site.add("/robots.txt", "User-agent: *\nCrawl-delay: 1\n", "text/plain")
    site.add("/other", "<p>Other</p>")
    site.add("/sitemap.xml", urlset(site.url("/refunds"), site.url("/other")))
    started = time.monotonic()
    sources = list(fetch_sitemap(site.url("/sitemap.xml"), allowlist=allow(site), limits=LIMITS))
    assert all(s.document for s in sources) and len(sources) == 2
    assert time.monotonic() - started >= 1.0
