"""The accounts part of the JSON API (/api/v1), authenticated by a workspace API key.

An API key acts with the rights of a workspace admin: it can invite admins and agents but
never owners, and it cannot create or revoke API keys.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from chatmina.accounts import service as accounts
from chatmina.accounts.models import Invitation
from chatmina.accounts.roles import Role
from chatmina.accounts.schemas import (
    InvitationIn,
    InvitationOut,
    MemberOut,
    RowId,
    WorkspaceOut,
)
from chatmina.mail.service import MailError
from chatmina.privacy import service as audit
from chatmina.ui.context import get_auth
from chatmina.ui.guards import api_key_required, api_workspace
from chatmina.ui.render import services_of

Req = Request[Any, Any, Any]


def _invitation_out(row: Invitation, via: str | None = None) -> InvitationOut:
    return InvitationOut(row.id, row.email, row.role, row.created_at, row.expires_at, via)


class AccountsApi(Controller):
    path = "/api/v1"
    guards = [api_key_required]
    tags = ["Workspace"]
    security = [{"apiKey": []}]

    @get("/workspace", sync_to_thread=True, summary="The API key's workspace")
    def workspace(self, request: Req) -> WorkspaceOut:
        w = api_workspace(request)
        return WorkspaceOut(w.slug, w.public_id, w.name, w.created_at)

    @get("/members", sync_to_thread=True, summary="List members")
    def members(self, request: Req) -> list[MemberOut]:
        rows = accounts.list_members(services_of(request).db, api_workspace(request).id)
        return [MemberOut(m.user_id, m.name, m.email, m.role, m.joined_at) for m in rows]

    @get("/invitations", sync_to_thread=True, summary="List pending invitations")
    def invitations(self, request: Req) -> list[InvitationOut]:
        rows = accounts.list_invitations(services_of(request).db, api_workspace(request).id)
        return [_invitation_out(r) for r in rows]

    @post(
        "/invitations",
        sync_to_thread=True,
        status_code=HTTP_201_CREATED,
        summary="Invite someone by email",
    )
    def invite(self, request: Req, data: JSONBody[InvitationIn]) -> InvitationOut:
        svc = services_of(request)
        workspace = api_workspace(request)
        row, token = accounts.invite(
            svc.db, svc.keys, workspace.id, None, Role.ADMIN, data.email, data.role
        )
        audit.record(
            svc.db,
            "member.invited",
            workspace_id=workspace.id,
            detail=f"{row.email} as {row.role} (API key)",
            ip=get_auth(request.scope).ip,
        )
        link = f"{svc.settings.base_url}/invite?token={token}"
        try:
            via: str | None = svc.mailer.send_template(
                row.email,
                "invitation",
                {
                    "inviter": workspace.name,
                    "workspace": workspace.name,
                    "role": row.role,
                    "link": link,
                    "days": 7,
                },
            )
        except MailError:
            via = None
        return _invitation_out(row, via)

    @delete(
        "/invitations/{invitation_id:int}",
        sync_to_thread=True,
        status_code=HTTP_204_NO_CONTENT,
        summary="Withdraw a pending invitation",
    )
    def revoke(self, request: Req, invitation_id: RowId) -> None:
        svc = services_of(request)
        accounts.revoke_invitation(svc.db, api_workspace(request).id, invitation_id)
