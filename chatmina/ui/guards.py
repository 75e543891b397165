"""Route guards: who may reach a handler. Workspace guards answer 404 to non-members, so
another workspace's slugs and ids are not even confirmed to exist."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from chatmina.accounts.models import Workspace
from chatmina.accounts.roles import Permission, can
from chatmina.ui.context import get_auth

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]


def login_required(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if get_auth(connection.scope).user is None:
        raise NotAuthorizedException("Log in to continue.")


def instance_admin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    user = get_auth(connection.scope).user
    if user is None:
        raise NotAuthorizedException("Log in to continue.")
    if not user.is_instance_admin:
        raise PermissionDeniedException("Only instance administrators can do this.")


def requires(permission: Permission) -> Guard:
    """Guard for /w/<slug>/ routes: a member of that workspace whose role has ``permission``."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        auth = get_auth(connection.scope)
        if auth.user is None:
            raise NotAuthorizedException("Log in to continue.")
        if auth.workspace is None or auth.role is None:
            raise NotFoundException("No such workspace.")
        if not can(auth.role, permission):
            raise PermissionDeniedException(
                f"Your role ({auth.role}) cannot do this: {permission.value.lower()}."
            )

    guard.__name__ = f"requires_{permission.name.lower()}"
    return guard


def api_key_required(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if get_auth(connection.scope).api_workspace is None:
        raise NotAuthorizedException(
            "Send a valid workspace API key as 'Authorization: Bearer <key>'."
        )


def api_workspace(connection: ASGIConnection[Any, Any, Any, Any]) -> Workspace:
    """The workspace of the request's API key (behind :func:`api_key_required`)."""
    workspace = get_auth(connection.scope).api_workspace
    assert workspace is not None, "api_workspace() needs the api_key_required guard"
    return workspace


def member_workspace(connection: ASGIConnection[Any, Any, Any, Any]) -> Workspace:
    """The /w/<slug>/ workspace of a page (behind a :func:`requires` guard)."""
    workspace = get_auth(connection.scope).workspace
    assert workspace is not None, "member_workspace() needs a requires() guard"
    return workspace
