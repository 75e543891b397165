"""Rendering pages: the context every template gets, flash messages and redirects."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template

from chatmina.accounts import service as accounts
from chatmina.accounts.roles import ROLE_PERMISSIONS, Role
from chatmina.privacy import service as privacy
from chatmina.ui.context import Services, get_auth

FLASH_COOKIE = "chatmina_flash"


def services_of(request: ASGIConnection[Any, Any, Any, Any]) -> Services:
    services: Services = request.app.state.services
    return services


def audit(request: Request[Any, Any, Any], action: str, detail: str = "") -> None:
    """Record an audit event by the signed-in user, in the workspace of the request."""
    auth = get_auth(request.scope)
    privacy.record(
        services_of(request).db,
        action,
        workspace_id=auth.workspace.id if auth.workspace else None,
        actor_id=auth.user.id if auth.user else None,
        detail=detail,
        ip=auth.ip,
    )


def api_audit(request: Request[Any, Any, Any], action: str, detail: str) -> None:
    """Record an audit event made with the request's API key, in the key's workspace."""
    auth = get_auth(request.scope)
    assert auth.api_workspace is not None, "api_audit() needs the api_key_required guard"
    privacy.record(
        services_of(request).db,
        action,
        workspace_id=auth.api_workspace.id,
        detail=detail + " (API key)",
        ip=auth.ip,
    )


def _sign(key: bytes, payload: str) -> str:
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()[:32]


def _read_flashes(request: Request[Any, Any, Any]) -> list[tuple[str, str]]:
    raw = request.cookies.get(FLASH_COOKIE, "")
    payload, _, signature = raw.partition(".")
    key = services_of(request).keys.signing
    if not payload or not hmac.compare_digest(signature.encode(), _sign(key, payload).encode()):
        return []
    try:
        items = json.loads(base64.urlsafe_b64decode(payload.encode()))
        return [(str(kind), str(message)) for kind, message in items][:5]
    except (ValueError, TypeError):
        return []


def page(
    request: Request[Any, Any, Any],
    template: str,
    *,
    nav: str = "",
    status_code: int = 200,
    **context: Any,
) -> Template:
    auth = get_auth(request.scope)
    services = services_of(request)
    flashes = _read_flashes(request)
    workspaces = accounts.workspaces_of(services.db, auth.user.id) if auth.user else []
    workspace, role = auth.workspace, auth.role
    if workspace is None and auth.user is not None and workspaces:
        # Pages outside /w/<slug>/ (account, API docs, email) keep the last workspace's
        # navigation, so the sidebar does not empty out.
        workspace, role = next(
            ((w, r) for w, r in workspaces if w.id == auth.user.last_workspace_id), workspaces[0]
        )
    perms = {p.name for p in ROLE_PERMISSIONS[Role(role)]} if role else set()
    base: dict[str, Any] = {
        "user": auth.user,
        "workspace": workspace,
        "role": role,
        "perms": perms,
        "workspaces": workspaces,
        "nav": nav,
        "status_code": status_code,
        "flashes": flashes,
        "errors": {},
        "base_url": services.settings.base_url,
    }
    response = Template(template, context={**base, **context}, status_code=status_code)
    if flashes:
        response.cookies.append(Cookie(key=FLASH_COOKIE, value="", max_age=0, path="/"))
    return response


def redirect(
    request: Request[Any, Any, Any], url: str, flash: tuple[str, str] | None = None
) -> Redirect:
    response = Redirect(url, status_code=303)
    if flash:
        payload = base64.urlsafe_b64encode(json.dumps([list(flash)]).encode()).decode()
        signature = _sign(services_of(request).keys.signing, payload)
        response.cookies.append(
            Cookie(
                key=FLASH_COOKIE,
                value=f"{payload}.{signature}",
                httponly=True,
                samesite="lax",
                secure=services_of(request).settings.secure_cookies,
                path="/",
                max_age=60,
            )
        )
    return response


def safe_next(url: str | None, default: str = "/") -> str:
    """Only same-site paths: an open redirect after login would be a phishing aid."""
    if not url:
        return default
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not url.startswith("/") or url.startswith("//"):
        return default
    return url


def form_errors(exc: Exception) -> dict[str, str]:
    field = getattr(exc, "field", None) or "_form"
    return {field: getattr(exc, "message", str(exc))}
