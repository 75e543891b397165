"""Static files with content-hash URLs: cached for a year, refreshed when the file changes."""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from litestar import Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery

from chatmina.paths import STATIC_DIR


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    media_type: str
    digest: str


def _load(root: Path) -> dict[str, StaticFile]:
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            body = path.read_bytes()
            media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if media_type.startswith("text/") or media_type.endswith(("javascript", "svg+xml")):
                media_type += "; charset=utf-8"
            digest = hashlib.sha256(body).hexdigest()[:12]
            files[path.relative_to(root).as_posix()] = StaticFile(body, media_type, digest)
    return files


_FILES = _load(STATIC_DIR) if STATIC_DIR.is_dir() else {}


def static_url(path: str) -> str:
    found = _FILES.get(path)
    if found is None:
        raise KeyError(f"no static file {path}")
    return f"/static/{path}?v={found.digest}"


@get("/static/{path:path}", include_in_schema=False, sync_to_thread=False)
def serve_static(path: FromPath[str], v: FromQuery[str | None] = None) -> Response[bytes]:
    found = _FILES.get(path.lstrip("/"))
    if found is None:
        raise NotFoundException("No such file.")
    cache = "public, max-age=31536000, immutable" if v == found.digest else "public, max-age=300"
    return Response(
        found.body,
        media_type=found.media_type,
        headers={"cache-control": cache, "etag": found.digest},
    )
