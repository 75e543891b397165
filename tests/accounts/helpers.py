"""Helpers shared by the accounts route tests: raw form posts, state snapshots, checks."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from chatmina.accounts import service as accounts
from chatmina.accounts.models import Workspace
from chatmina.ui.context import Services
from tests.conftest import PASSWORD

FORM = {"content-type": "application/x-www-form-urlencoded"}


def assert_not_500(response: Any) -> Any:
    """Only bugs answer 5xx; anything a client sends must get a 4xx or better."""
    assert response.status_code < 500, f"{response.status_code}: {response.text[:2000]}"
    return response


def post_pairs(client: Any, url: str, pairs: list[tuple[str, str]], csrf: bool = True) -> Any:
    """POST an urlencoded body as given, repeated keys included (httpx's ``data=`` dedupes)."""
    if csrf:
        pairs = [*pairs, ("_csrf_token", client.csrf())]
    response = client.post(url, content=urlencode(pairs), headers=FORM, follow_redirects=False)
    return assert_not_500(response)


def page_text(response: Any) -> str:
    """The page's HTML with entities decoded, so messages can be matched as written."""
    return html.unescape(response.text)


def field_error(response: Any, field: str) -> str:
    """The error message shown next to a form field ('' when there is none)."""
    found = re.search(
        rf'id="field-{re.escape(field)}-error">.*?<span>(.*?)</span>', response.text, re.S
    )
    return html.unescape(found.group(1)) if found else ""


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """An RFC 9457 problem+json body with every member a client relies on."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("/api/docs#problem-")
    assert body["title"] and body["detail"]
    return body


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@dataclass(frozen=True)
class WorkspaceState:
    """Everything a workspace route could write, for 'nothing changed' checks."""

    name: str | None
    members: tuple[tuple[int, str], ...]
    invitations: tuple[tuple[int, str, str], ...]
    api_keys: tuple[int, ...]


def snapshot(services: Services, workspace_id: int) -> WorkspaceState:
    db = services.db
    with db.read() as s:
        workspace = s.get(Workspace, workspace_id)
        name = workspace.name if workspace else None
    return WorkspaceState(
        name=name,
        members=tuple((m.user_id, m.role) for m in accounts.list_members(db, workspace_id)),
        invitations=tuple(
            (i.id, i.email, i.role) for i in accounts.list_invitations(db, workspace_id)
        ),
        api_keys=tuple(k.id for k in accounts.list_api_keys(db, workspace_id)),
    )


def add_member(services: Services, workspace_id: int, email: str, role: str) -> int:
    """A new user who joined ``workspace_id`` with ``role`` through an invitation."""
    _, token = accounts.invite(services.db, services.keys, workspace_id, None, "owner", email, role)
    user, _ = accounts.accept_invitation(
        services.db,
        services.keys,
        services.passwords,
        token,
        name=email.split("@")[0].title(),
        password=PASSWORD,
    )
    return user.id


def pending_invitation(services: Services, workspace_id: int, email: str) -> tuple[int, str]:
    """A pending invitation's id and its link token."""
    row, token = accounts.invite(
        services.db, services.keys, workspace_id, None, "owner", email, "agent"
    )
    return row.id, token
