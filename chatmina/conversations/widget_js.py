"""GET /widget.js: the chat widget that businesses embed with one <script> tag.

Its URL cannot carry a content hash (it is pasted into other sites once and for all), so
it is cached briefly and revalidated with its ETag. It is gzipped once at start-up. The
response sets no cookie: a third-party page loading it must not get one of ours.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache

from litestar import Request, Response, get
from litestar.datastructures import State

from chatmina.paths import WEB_DIR

WIDGET_FILE = WEB_DIR / "widget" / "widget.js"
# Long enough to spare the server a request per page view, short enough that an upgrade
# reaches every site within minutes.
CACHE_CONTROL = "public, max-age=300, must-revalidate"
MEDIA_TYPE = "text/javascript"  # Litestar adds "; charset=utf-8"


@dataclass(frozen=True)
class WidgetFile:
    body: bytes
    gzipped: bytes
    etag: str


@cache
def widget_file() -> WidgetFile:
    body = WIDGET_FILE.read_bytes()
    digest = hashlib.sha256(body).hexdigest()[:16]
    # mtime=0: the same bytes on every start, so the ETag of the gzipped form holds too.
    return WidgetFile(body, gzip.compress(body, compresslevel=9, mtime=0), f'"{digest}"')


def _accepts_gzip(header: str) -> bool:
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0")
    return False


@get(
    "/widget.js",
    include_in_schema=False,
    sync_to_thread=False,
    exclude_from_csrf=True,  # the CSRF middleware would otherwise set its cookie here
)
def serve_widget(request: Request[object, object, State]) -> Response[bytes]:
    found = widget_file()
    gzipped = _accepts_gzip(request.headers.get("accept-encoding", ""))
    # The gzipped bytes are a different representation, so they get their own ETag.
    etag = found.etag[:-1] + '-gz"' if gzipped else found.etag
    headers = {"cache-control": CACHE_CONTROL, "etag": etag, "vary": "Accept-Encoding"}
    if etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(b"", status_code=304, headers=headers, media_type=MEDIA_TYPE)
    if gzipped:
        headers["content-encoding"] = "gzip"
    # A script another site loads cross-origin: allow exactly that, whatever else is the default.
    headers["cross-origin-resource-policy"] = "cross-origin"
    return Response(
        found.gzipped if gzipped else found.body, media_type=MEDIA_TYPE, headers=headers
    )
