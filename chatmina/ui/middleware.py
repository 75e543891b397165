"""Who is asking (session cookie or API key), and the security headers on every response."""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

import anyio.to_thread
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, BeforeMessageSendHookHandler, Message, Receive, Scope, Send

from chatmina.accounts import service as accounts
from chatmina.ui.context import Auth, Services, client_ip

SESSION_COOKIE = "chatmina_session"
# Paths that never act for a user: static files, the health check, and the widget API
# (visitors prove themselves with their own tokens, never sessions or API keys).
NO_USER_PATHS = ("/static/", "/healthz", "/api/widget/")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _cookie(scope: Scope, name: str) -> str:
    raw = _header(scope, b"cookie")
    if not raw:
        return ""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # a malformed Cookie header is the client's problem, not a 500
        return ""
    morsel = jar.get(name)
    return morsel.value if morsel else ""


def _resolve(services: Services, scope: Scope, auth: Auth) -> None:
    path: str = scope["path"]
    bearer = _header(scope, b"authorization")
    if bearer.lower().startswith("bearer "):
        auth.api_workspace = accounts.workspace_for_api_key(
            services.db, services.keys, bearer[7:].strip()
        )
    token = _cookie(scope, SESSION_COOKIE)
    if token:
        found = accounts.find_session(services.db, services.keys, services.session_policy, token)
        if found:
            session, auth.user = found
            auth.session_id = session.id
    slug = scope.get("path_params", {}).get("slug")
    if auth.user is not None and slug and path.startswith("/w/"):
        member = accounts.membership(services.db, auth.user.id, slug)
        if member:
            auth.workspace, auth.role = member


class AuthMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        services: Services = scope["litestar_app"].state.services
        auth = Auth(ip=client_ip(scope, services.trusted_proxies))
        if not scope["path"].startswith(NO_USER_PATHS):
            await anyio.to_thread.run_sync(_resolve, services, scope, auth)
        scope.setdefault("state", {})["auth"] = auth
        await next_app(scope, receive, send)


def security_headers(hsts: bool) -> BeforeMessageSendHookHandler:
    """A before-send hook that puts the security headers on every response.

    A hook rather than a middleware: Litestar answers an unknown path (404) or method (405)
    before any middleware runs, and those pages need the CSP and framing rules too. A
    header a handler set itself (a stricter CSP, say) is kept.
    """
    extra = [
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    ]
    if hsts:
        extra.append((b"strict-transport-security", b"max-age=31536000"))

    async def add_headers(message: Message, _scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers: list[Any] = list(message.get("headers", []))
        present = {name.lower() for name, _ in headers}
        headers.extend(h for h in extra if h[0] not in present)
        message["headers"] = headers

    return add_headers
