"""Where the widget may run: the Origin check and CORS for /api/widget/v1/{public_id}/.

A browser names the page's origin on every cross-site request. A workspace lists the
sites allowed to embed its widget; the app's own origin (the demo page, the preview) is
always allowed. A request from any other origin is refused with 403 before a handler
runs, so nothing is stored; a preflight from it gets no CORS permission at all. Requests
without an Origin (servers, curl) are not a browser's and pass; rate limits apply to them.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread

from chatmina.errors import NotFound

PREFIX = "/api/widget/v1/"
ALLOW_HEADERS = b"authorization, content-type, last-event-id"
Message = dict[str, Any]


def _header(scope: Message, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"


def own_origins(scope: Message, base_url: str) -> set[str]:
    host = _header(scope, b"host").lower()
    scheme = scope.get("scheme", "http")
    found = {_origin_of(base_url)}
    if host:
        found.add(f"{scheme}://{host}")
    return found


async def _answer(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def widget_cors(app: Any) -> Any:
    """ASGI middleware: Origin check, preflights and CORS headers for the widget API."""

    async def middleware(scope: Message, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        origin = _header(scope, b"origin")
        if scope["type"] != "http" or not path.startswith(PREFIX) or not origin:
            await app(scope, receive, send)
            return
        services = scope["litestar_app"].state.services
        public_id = path[len(PREFIX) :].split("/", 1)[0]
        try:
            site = services.live.cached_site(public_id) or await anyio.to_thread.run_sync(
                services.live.site, public_id
            )
        except NotFound:
            await app(scope, receive, send)  # the route answers 404
            return
        allowed = origin in site.allowed_origins or origin in own_origins(
            scope, services.settings.base_url
        )
        vary = (b"vary", b"Origin")
        if not allowed:
            body = {
                "type": "/api/docs#problem-origin-not-allowed",
                "title": "Origin not allowed",
                "status": 403,
                "detail": f"This widget may not be used on {origin}. Add the site's origin "
                "in Widget settings → Allowed origins.",
            }
            headers = [(b"content-type", b"application/problem+json"), vary]
            if scope["method"] != "OPTIONS":  # the page may read why; a preflight just fails
                headers.append((b"access-control-allow-origin", origin.encode()))
            await _answer(send, 403, headers, json.dumps(body).encode())
            return
        cors = [
            (b"access-control-allow-origin", origin.encode()),
            (b"access-control-expose-headers", b"retry-after"),
            vary,
        ]
        if scope["method"] == "OPTIONS":
            preflight = [
                *cors,
                (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                (b"access-control-allow-headers", ALLOW_HEADERS),
                (b"access-control-max-age", b"600"),
            ]
            await _answer(send, 204, preflight, b"")
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *cors]
            await send(message)

        await app(scope, receive, with_cors)

    return middleware
