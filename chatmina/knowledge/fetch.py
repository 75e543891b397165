"""Knowledge from the web: one page, or every page a sitemap lists.

Every request goes through :mod:`chatmina.net`, so a URL an admin types in can never reach
the box's own network unless the allowlist says so. Sites' robots.txt is respected.
Problems become Sources with a clear error, like the file parsers' do.
"""

from __future__ import annotations

import gzip
import io
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from http import HTTPStatus
from urllib.parse import urldefrag, urlsplit
from urllib.robotparser import RobotFileParser

from chatmina import net
from chatmina.knowledge.parsers import ImportLimits, Source, extract_as, file_type
from chatmina.knowledge.parsers.documents import megabytes

_KINDS = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "text/markdown": ".md",
    "text/x-markdown": ".md",
    "text/plain": ".txt",
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}
_BY_EXTENSION = frozenset({".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx"})
_UNTYPED = frozenset({"", "application/octet-stream", "binary/octet-stream"})
_ACCEPT = (
    "text/html, application/xhtml+xml, text/markdown, text/plain;q=0.9, application/pdf, "
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document;q=0.9"
)
_ROBOTS_MAX_BYTES = 512 * 1024
# The sitemap protocol's own limit for one uncompressed sitemap file.
_SITEMAP_MAX_BYTES = 50 * 1024 * 1024
_MAX_SITEMAP_DEPTH = 2
_MAX_CRAWL_DELAY = 10.0


def _status_error(status: int) -> str:
    try:
        shown = f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        shown = str(status)
    if status == 404 or status == 410:
        return f"The page was not found ({shown})"
    if status in (401, 403):
        return f"The page is not public ({shown})"
    if status >= 500:
        return f"The site had a problem ({shown}); try again later"
    return f"The site answered {shown}"


def _web_url(url: str) -> str:
    try:
        url = urldefrag(url.strip())[0]
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise net.OutboundError(f"{url} is not a valid address") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise net.OutboundError("Only http:// and https:// addresses can be imported")
    return url


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _content_kind(content_type: str, url: str) -> tuple[str | None, str | None]:
    """(the file type to parse the body as, the declared charset), from the Content-Type
    header, falling back to the URL's extension when the server does not say."""
    mime, _, params = content_type.partition(";")
    mime = mime.strip().lower()
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'") or None
    path_kind = file_type(urlsplit(url).path)
    if mime == "text/plain" and path_kind in (".md", ".markdown"):
        return ".md", charset
    if mime in _KINDS:
        return _KINDS[mime], charset
    if mime in _UNTYPED and path_kind in _BY_EXTENSION:
        return path_kind, charset
    return None, charset


class _Robots:
    """robots.txt per site, read once per fetch run (RFC 9309: a missing file allows all,
    an unreachable one allows nothing)."""

    def __init__(self, allowlist: net.Allowlist, user_agent: str) -> None:
        self.allowlist = allowlist
        self.user_agent = user_agent
        self.rules: dict[str, RobotFileParser | str] = {}
        self.last_fetch: dict[str, float] = {}

    def refusal(self, url: str) -> str | None:
        origin = _origin(url)
        if origin not in self.rules:
            self.rules[origin] = self._load(origin)
        rules = self.rules[origin]
        if isinstance(rules, str):
            return rules
        if not rules.can_fetch(self.user_agent, url):
            return f"The site's robots.txt does not allow {self.user_agent} to fetch this page"
        return None

    def _load(self, origin: str) -> RobotFileParser | str:
        rules = RobotFileParser(origin + "/robots.txt")
        try:
            response = net.request(
                "GET",
                origin + "/robots.txt",
                allowlist=self.allowlist,
                headers={"User-Agent": self.user_agent},
                max_bytes=_ROBOTS_MAX_BYTES,
            )
        except net.ResponseTooLarge:
            rules.parse([])  # no rules: nobody needs half a megabyte of them for one site
            return rules
        except net.OutboundError as error:
            return str(error)
        if response.status >= 500:
            return (
                f"The site's robots.txt could not be read ({response.status}); "
                "pages are not fetched until it can be. Try again later"
            )
        if response.status >= 400:
            rules.parse([])  # no robots.txt: everything may be fetched
            return rules
        rules.parse(response.body.decode("utf-8", errors="replace").splitlines())
        return rules

    def wait_turn(self, url: str) -> None:
        """Keep to the site's Crawl-delay between page fetches, up to a few seconds."""
        origin = _origin(url)
        rules = self.rules.get(origin)
        delay = rules.crawl_delay(self.user_agent) if isinstance(rules, RobotFileParser) else None
        last = self.last_fetch.get(origin)
        if delay and last is not None:
            remaining = min(float(delay), _MAX_CRAWL_DELAY) - (time.monotonic() - last)
            if remaining > 0:
                time.sleep(remaining)
        self.last_fetch[origin] = time.monotonic()


def _fetch_page(url: str, robots: _Robots, limits: ImportLimits) -> list[Source]:
    try:
        checked = _web_url(url)
        refusal = robots.refusal(checked)
        if refusal:
            return [Source(url, None, refusal)]
        robots.wait_turn(checked)
        response = net.request(
            "GET",
            checked,
            allowlist=robots.allowlist,
            headers={"User-Agent": robots.user_agent, "Accept": _ACCEPT},
            max_bytes=limits.max_file_bytes,
        )
    except net.ResponseTooLarge:
        limit = megabytes(limits.max_file_bytes)
        return [Source(url, None, f"The page is larger than the {limit} limit")]
    except net.OutboundError as error:
        return [Source(url, None, str(error))]
    if not 200 <= response.status < 300:
        return [Source(url, None, _status_error(response.status))]
    content_type = response.headers.get("content-type", "")
    kind, charset = _content_kind(content_type, response.url)
    if kind is None:
        shown = content_type.partition(";")[0].strip() or "Content without a type"
        problem = f"{shown} cannot be imported; pages must be HTML, Markdown, text, PDF or Word"
        return [Source(url, None, problem)]
    sources = extract_as(kind, response.url, response.body, limits, charset)
    return [
        replace(s, document=replace(s.document, source_url=response.url)) if s.document else s
        for s in sources
    ]


def fetch_url(
    url: str, *, allowlist: net.Allowlist, limits: ImportLimits, user_agent: str = "Chatmina"
) -> list[Source]:
    """The page at ``url`` as Sources named by its final URL (after redirects), or one
    Source with the reason it could not be fetched."""
    return _fetch_page(url, _Robots(allowlist, user_agent), limits)


def _site(url: str) -> str:
    """Host and explicit port: http and https count as one site, as sites move to https
    long before their sitemaps do."""
    parts = urlsplit(url)  # only called on URLs _web_url accepted
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


def _sitemap_xml(data: bytes) -> ET.Element:
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as packed:
                data = packed.read(_SITEMAP_MAX_BYTES + 1)
        except (OSError, EOFError):
            raise ValueError("The sitemap could not be unpacked (damaged .gz file?)") from None
        if len(data) > _SITEMAP_MAX_BYTES:
            raise ValueError(f"The sitemap is larger than {megabytes(_SITEMAP_MAX_BYTES)} unpacked")
    # Sitemaps never need a DTD; refusing one shuts out entity-expansion tricks entirely.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ValueError("The sitemap is not valid (it declares a DTD)")
    try:
        return ET.fromstring(data)  # noqa: S314 - DTDs refused above
    except ET.ParseError as error:
        raise ValueError(f"The sitemap is not valid XML ({error})") from None


def _sitemap_pages(
    url: str, robots: _Robots, depth: int, visited: set[str]
) -> Iterator[str | Source]:
    """Page URLs listed by the sitemap at ``url``, following sitemap indexes; problems with a
    sitemap itself come out as Sources."""
    try:
        url = _web_url(url)
    except net.OutboundError as error:
        yield Source(url, None, str(error))
        return
    if url in visited:
        return
    visited.add(url)
    try:
        response = net.request(
            "GET",
            url,
            allowlist=robots.allowlist,
            headers={"User-Agent": robots.user_agent},
            max_bytes=_SITEMAP_MAX_BYTES,
        )
        if not 200 <= response.status < 300:
            yield Source(url, None, _status_error(response.status).replace("page", "sitemap"))
            return
        root = _sitemap_xml(response.body)
    except (net.OutboundError, ValueError) as error:
        yield Source(url, None, str(error))
        return
    namespace = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    kind = root.tag[len(namespace) :]
    if kind not in ("urlset", "sitemapindex"):
        yield Source(url, None, "This is not a sitemap (no <urlset> or <sitemapindex>)")
        return
    if kind == "sitemapindex" and depth >= _MAX_SITEMAP_DEPTH:
        yield Source(url, None, "Sitemap indexes nested this deep are not followed")
        return
    for entry in root:
        loc = entry.find(namespace + "loc")
        location = (loc.text or "").strip() if loc is not None else ""
        if not location:
            continue
        if kind == "urlset":
            yield location
        else:
            yield from _sitemap_pages(location, robots, depth + 1, visited)


def fetch_sitemap(
    url: str,
    *,
    allowlist: net.Allowlist,
    limits: ImportLimits,
    max_pages: int = 500,
    user_agent: str = "Chatmina",
) -> Iterator[Source]:
    """Sources for the pages a sitemap (or sitemap index, plain or .gz) lists, fetched one by
    one as the caller iterates, up to ``max_pages`` pages of the sitemap's own site."""
    robots = _Robots(allowlist, user_agent)
    try:
        site = _site(_web_url(url))
    except net.OutboundError as error:
        yield Source(url, None, str(error))
        return
    seen: set[str] = set()
    fetched = 0
    for item in _sitemap_pages(url, robots, 0, set()):
        if isinstance(item, Source):
            yield item
            continue
        try:
            page = _web_url(item)
        except net.OutboundError as error:
            yield Source(item, None, str(error))
            continue
        if page in seen:
            continue
        seen.add(page)
        # The sitemap protocol only lets a sitemap list its own site's pages.
        if _site(page) != site:
            yield Source(page, None, f"The sitemap lists a page of another site than {site}")
            continue
        if fetched == max_pages:
            note = f"The sitemap lists more than {max_pages} pages; only the first {max_pages}"
            yield Source(url, None, note + " were imported")
            return
        fetched += 1
        yield from _fetch_page(page, robots, limits)
