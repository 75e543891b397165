"""Workspace pages: dashboard, members and invitations, settings and API keys.

Every route sits under /w/<slug>/; the auth middleware resolves the slug only through the
signed-in user's own memberships, and the guards answer 404 to anyone else.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath

from chatmina.accounts import service as accounts
from chatmina.accounts.roles import Permission, Role, can
from chatmina.accounts.schemas import RowId
from chatmina.errors import Conflict, UserError
from chatmina.mail.service import MailError
from chatmina.privacy import service as privacy
from chatmina.ui.context import Auth, get_auth
from chatmina.ui.forms import Form, echo, text
from chatmina.ui.guards import requires
from chatmina.ui.render import audit, form_errors, page, redirect, services_of

log = logging.getLogger(__name__)
Req = Request[Any, Any, Any]
Slug = FromPath[str]


def _auth(request: Req) -> Auth:
    auth = get_auth(request.scope)
    assert auth.user is not None and auth.workspace is not None and auth.role is not None
    return auth


def widget_snippet(base_url: str, public_id: str) -> str:
    return f'<script src="{base_url}/widget.js" data-workspace="{public_id}" async></script>'


class WorkspaceController(Controller):
    path = "/w/{slug:str}"
    include_in_schema = False

    @get("/", guards=[requires(Permission.VIEW_WORKSPACE)], sync_to_thread=True)
    def dashboard(self, request: Req, slug: Slug) -> Response[Any]:
        svc = services_of(request)
        auth = _auth(request)
        assert auth.workspace is not None and auth.user is not None
        if auth.user.last_workspace_id != auth.workspace.id:
            accounts.remember_workspace(svc.db, auth.user.id, auth.workspace.id)
        members = accounts.list_members(svc.db, auth.workspace.id)
        return page(
            request,
            "workspace/dashboard.html",
            nav="dashboard",
            members=members,
            invitations=accounts.list_invitations(svc.db, auth.workspace.id),
            api_keys=accounts.list_api_keys(svc.db, auth.workspace.id),
            email_configured=svc.mailer.smtp_settings() is not None,
            snippet=widget_snippet(svc.settings.base_url, auth.workspace.public_id),
        )

    @get("/conversations", guards=[requires(Permission.VIEW_WORKSPACE)], sync_to_thread=True)
    def conversations(self, request: Req, slug: Slug) -> Response[Any]:
        return redirect(request, f"/w/{slug}/inbox")  # the inbox (conversations/routes.py)

    # -- members -------------------------------------------------------------------------

    def _members_page(self, request: Req, status_code: int = 200, **extra: Any) -> Response[Any]:
        svc = services_of(request)
        auth = _auth(request)
        assert auth.workspace is not None
        return page(
            request,
            "workspace/members.html",
            nav="members",
            status_code=status_code,
            members=accounts.list_members(svc.db, auth.workspace.id),
            invitations=accounts.list_invitations(svc.db, auth.workspace.id),
            roles=[r.value for r in Role],
            permission_matrix=[
                (p.value, can(Role.OWNER, p), can(Role.ADMIN, p), can(Role.AGENT, p))
                for p in Permission
            ],
            **extra,
        )

    @get("/members", guards=[requires(Permission.VIEW_WORKSPACE)], sync_to_thread=True)
    def members(self, request: Req, slug: Slug) -> Response[Any]:
        return self._members_page(request, values={"role": "agent"})

    @post("/members/invite", guards=[requires(Permission.MANAGE_MEMBERS)], sync_to_thread=True)
    def invite(self, request: Req, slug: Slug, data: Form) -> Response[Any]:
        svc = services_of(request)
        auth = _auth(request)
        assert auth.workspace is not None and auth.user is not None and auth.role is not None
        values = {"email": text(data, "email", 300), "role": text(data, "role", 20)}
        try:
            invitation, token = accounts.invite(
                svc.db,
                svc.keys,
                auth.workspace.id,
                auth.user.id,
                auth.role,
                values["email"],
                values["role"],
            )
        except UserError as exc:
            return self._members_page(
                request, exc.status_code, values=values, errors=form_errors(exc)
            )
        audit(request, "member.invited", f"{invitation.email} as {invitation.role}")
        link = f"{svc.settings.base_url}/invite?token={token}"
        try:
            via = svc.mailer.send_template(
                invitation.email,
                "invitation",
                {
                    "inviter": auth.user.name,
                    "workspace": auth.workspace.name,
                    "role": invitation.role,
                    "link": link,
                    "days": 7,
                },
            )
        except MailError as exc:
            return redirect(
                request,
                f"/w/{slug}/members",
                (
                    "error",
                    f"The invitation for {invitation.email} was created, but the email "
                    f"could not be sent: {exc.message} Fix the email settings, then resend it.",
                ),
            )
        where = "" if via == "smtp" else " (no SMTP server is set up, so it is in the outbox)"
        return redirect(
            request,
            f"/w/{slug}/members",
            ("success", f"Invitation sent to {invitation.email}{where}."),
        )

    @post(
        "/invitations/{invitation_id:int}/revoke",
        guards=[requires(Permission.MANAGE_MEMBERS)],
        sync_to_thread=True,
    )
    def revoke_invitation(self, request: Req, slug: Slug, invitation_id: RowId) -> Response[Any]:
        svc = services_of(request)
        auth = _auth(request)
        assert auth.workspace is not None
        accounts.revoke_invitation(svc.db, auth.workspace.id, invitation_id)
        audit(request, "invitation.revoked")
        return redirect(request, f"/w/{slug}/members", ("success", "Invitation withdrawn."))

    @post(
        "/members/{user_id:int}/role",
        guards=[requires(Permission.MANAGE_MEMBERS)],
        sync_to_thread=True,
    )
    def change_role(self, request: Req, slug: Slug, user_id: RowId, data: Form) -> Response[Any]:
        svc = services_of(request)
        auth = _auth(request)
        assert auth.workspace is not None and auth.role is not None and auth.user is not None
        role = text(data, "role", 20)
        try:
            accounts.change_role(svc.db, auth.workspace.id, auth.role, user_id, role)
        except Conflict as exc:
            # The last owner: a state of the data the members page explains. An unknown
            # role (400), a forbidden change (403) or a stranger's id (404) go to the error
            # page with their own status, so nothing reports them as a success-like redirect.
            return redirect(request, f"/w/{slug}/members", ("error", exc.message))
        audit(request, "member.role_changed", f"user {user_id} is now {role}")
        return redirect(request, f"/w/{slug}/members", ("success", "Role changed."))

    @post(
        "/members/{user_id:int}/remove",
        guards=[requires(Permission.MANAGE_MEMBERS)],
        sync_to_thread=True,
    )
    def remove(self, request: Req, slug: Slug, user_id: RowId) -> Response[Any]:
        svc = services_of(request)
        auth = _auth(request)
        assert auth.workspace is not None and auth.role is not None and auth.user is not None
        try:
            accounts.remove_member(svc.db, auth.workspace.id, auth.role, user_id)
        except Conflict as exc:  # the last owner; 403 and 404 go to the error page
            return redirect(request, f"/w/{slug}/members", ("error", exc.message))
        audit(request, "member.removed", f"user {user_id}")
        if user_id == auth.user.id:
            return redirect(request, "/", ("success", "You left the workspace."))
        return redirect(request, f"/w/{slug}/members", ("success", "Member removed."))

    # -- settings and API keys -----------------------------------------------------------

    def _settings_page(self, request: Req, status_code: int = 200, **extra: Any) -> Response[Any]:
        svc = services_of(request)
        auth = _auth(request)
        assert auth.workspace is not None
        return page(
            request,
            "workspace/settings.html",
            nav="settings",
            status_code=status_code,
            api_keys=accounts.list_api_keys(svc.db, auth.workspace.id),
            events=privacy.recent(svc.db, auth.workspace.id),
            snippet=widget_snippet(svc.settings.base_url, auth.workspace.public_id),
            **extra,
        )

    @get("/settings", guards=[requires(Permission.MANAGE_SETTINGS)], sync_to_thread=True)
    def settings(self, request: Req, slug: Slug) -> Response[Any]:
        return self._settings_page(request, values={})

    @post("/settings", guards=[requires(Permission.MANAGE_SETTINGS)], sync_to_thread=True)
    def save_settings(self, request: Req, slug: Slug, data: Form) -> Response[Any]:
        svc = services_of(request)
        auth = _auth(request)
        assert auth.workspace is not None and auth.user is not None
        try:
            accounts.rename_workspace(svc.db, auth.workspace.id, text(data, "name"))
        except UserError as exc:
            return self._settings_page(
                request, 400, values={"name": echo(data, "name")}, errors=form_errors(exc)
            )
        audit(request, "workspace.renamed")
        return redirect(request, f"/w/{slug}/settings", ("success", "Settings saved."))

    @post("/api-keys", guards=[requires(Permission.MANAGE_SETTINGS)], sync_to_thread=True)
    def create_api_key(self, request: Req, slug: Slug, data: Form) -> Response[Any]:
        svc = services_of(request)
        auth = _auth(request)
        assert auth.workspace is not None and auth.user is not None
        try:
            key, secret = accounts.create_api_key(
                svc.db, svc.keys, auth.workspace.id, text(data, "key_name"), auth.user.id
            )
        except UserError as exc:
            exc.field = "key_name"
            return self._settings_page(
                request,
                400,
                values={"key_name": echo(data, "key_name")},
                errors=form_errors(exc),
            )
        audit(request, "api_key.created", f"{key.name} ({key.prefix}…)")
        return self._settings_page(request, 201, values={}, new_key=secret, new_key_name=key.name)

    @post(
        "/api-keys/{key_id:int}/revoke",
        guards=[requires(Permission.MANAGE_SETTINGS)],
        sync_to_thread=True,
    )
    def revoke_api_key(self, request: Req, slug: Slug, key_id: RowId) -> Response[Any]:
        svc = services_of(request)
        auth = _auth(request)
        assert auth.workspace is not None and auth.user is not None
        key = accounts.revoke_api_key(svc.db, auth.workspace.id, key_id)
        audit(request, "api_key.revoked", f"{key.name} ({key.prefix}…)")
        return redirect(request, f"/w/{slug}/settings", ("success", f"Key {key.name} revoked."))

    @post("/delete", guards=[requires(Permission.DELETE_WORKSPACE)], sync_to_thread=True)
    def delete(self, request: Req, slug: Slug, data: Form) -> Response[Any]:
        svc = services_of(request)
        auth = _auth(request)
        assert auth.workspace is not None and auth.user is not None
        name = auth.workspace.name
        try:
            accounts.delete_workspace(svc.db, auth.workspace.id, text(data, "confirm", 100))
        except UserError as exc:
            return self._settings_page(request, 400, values={}, errors=form_errors(exc))
        privacy.record(svc.db, "workspace.deleted", actor_id=auth.user.id, detail=name, ip=auth.ip)
        return redirect(request, "/", ("success", f"Workspace {name} and all its data deleted."))
