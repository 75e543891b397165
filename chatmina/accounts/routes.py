"""Sign-in pages: first-run setup, login, logout, password reset, invitations, account."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromQuery

from chatmina.accounts import service as accounts
from chatmina.accounts.tokens import InvalidToken
from chatmina.errors import UserError
from chatmina.mail.service import MailError
from chatmina.privacy import service as audit
from chatmina.ui.context import get_auth
from chatmina.ui.forms import Form, echo, text
from chatmina.ui.guards import instance_admin, login_required
from chatmina.ui.middleware import SESSION_COOKIE
from chatmina.ui.render import form_errors, page, redirect, safe_next, services_of

log = logging.getLogger(__name__)
Req = Request[Any, Any, Any]


def _login(request: Req, user_id: int, target: str) -> Response[Any]:
    """Start a session and send the browser on; the cookie never reaches JavaScript."""
    svc = services_of(request)
    auth = get_auth(request.scope)
    token = accounts.start_session(
        svc.db,
        svc.keys,
        svc.session_policy,
        user_id,
        auth.ip,
        request.headers.get("user-agent", ""),
    )
    response = redirect(request, target)
    response.cookies.append(
        Cookie(
            key=SESSION_COOKIE,
            value=token,
            httponly=True,
            samesite="lax",
            secure=svc.settings.secure_cookies,
            path="/",
            max_age=int(svc.session_policy.absolute.total_seconds()),
        )
    )
    return response


def _clear_session_cookie(response: Response[Any]) -> Response[Any]:
    response.cookies.append(Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/"))
    return response


def _throttle_public(request: Req) -> None:
    svc = services_of(request)
    ip = get_auth(request.scope).ip
    wait = svc.public_per_ip.retry_after(ip)
    if wait:
        from chatmina.errors import Throttled

        raise Throttled(f"Too many requests from your address. Try again in {wait} seconds.", wait)
    svc.public_per_ip.hit(ip)


class SignInController(Controller):
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def home(self, request: Req) -> Response[Any]:
        auth = get_auth(request.scope)
        svc = services_of(request)
        if auth.user is None:
            if not accounts.has_users(svc.db):
                return page(request, "accounts/setup_pending.html")
            return redirect(request, "/login")
        memberships = accounts.workspaces_of(svc.db, auth.user.id)
        for workspace, _role in memberships:
            if workspace.id == auth.user.last_workspace_id:
                return redirect(request, f"/w/{workspace.slug}/")
        if memberships:
            return redirect(request, f"/w/{memberships[0][0].slug}/")
        return page(request, "accounts/no_workspace.html")

    # -- first run -----------------------------------------------------------------------

    def _check_setup_token(self, request: Req, token: str) -> None:
        svc = services_of(request)
        if svc.setup_token is None or accounts.has_users(svc.db):
            raise NotFoundException("Setup is already complete. Log in instead.")
        if not hmac.compare_digest(token.encode(), svc.setup_token.encode()):
            raise PermissionDeniedException(
                "This setup link is not valid. Use the link printed in the server's log."
            )

    @get("/setup", sync_to_thread=True)
    def setup_form(self, request: Req, token: FromQuery[str] = "") -> Response[Any]:
        self._check_setup_token(request, token)
        return page(request, "accounts/setup.html", token=token, values={})

    @post("/setup", sync_to_thread=True)
    def setup(self, request: Req, data: Form) -> Response[Any]:
        _throttle_public(request)
        token = text(data, "token", 200)
        self._check_setup_token(request, token)
        svc = services_of(request)
        values = {k: text(data, k) for k in ("name", "email", "workspace")}
        try:
            password = text(data, "password", 1000)
            if password != text(data, "password_confirm", 1000):
                raise UserError("The two passwords do not match.", "password_confirm")
            user, workspace = accounts.create_owner(
                svc.db,
                svc.passwords,
                email=values["email"],
                name=values["name"],
                password=password,
                workspace_name=values["workspace"],
            )
        except UserError as exc:
            return page(
                request,
                "accounts/setup.html",
                status_code=400,
                token=token,
                values=values,
                errors=form_errors(exc),
            )
        svc.setup_token = None
        audit.record(
            svc.db,
            "setup.completed",
            workspace_id=workspace.id,
            actor_id=user.id,
            ip=get_auth(request.scope).ip,
        )
        log.info("first-run setup completed by user %d", user.id)
        return _login(request, user.id, f"/w/{workspace.slug}/")

    # -- login and logout ----------------------------------------------------------------

    @get("/login", sync_to_thread=True)
    def login_form(self, request: Req, next: FromQuery[str] = "") -> Response[Any]:
        if get_auth(request.scope).user is not None:
            return redirect(request, safe_next(next))
        return page(request, "accounts/login.html", next=safe_next(next, ""), values={})

    @post("/login", sync_to_thread=True)
    def login(self, request: Req, data: Form) -> Response[Any]:
        svc = services_of(request)
        ip = get_auth(request.scope).ip
        email = text(data, "email", 254).strip().lower()
        password = text(data, "password", 1000)
        target = safe_next(text(data, "next", 2000))
        wait = max(svc.login_per_ip.retry_after(ip), svc.login_per_account.retry_after(email))
        if wait:
            minutes = max(1, round(wait / 60))
            message = (
                f"Too many failed attempts. Wait {minutes} minute{'s' if minutes > 1 else ''} "
                "and try again, or reset your password."
            )
            return page(
                request,
                "accounts/login.html",
                status_code=429,
                next=target,
                values={"email": email},
                errors={"_form": message},
            )
        user = accounts.authenticate(svc.db, svc.passwords, email, password)
        if user is None:
            svc.login_per_ip.hit(ip)
            svc.login_per_account.hit(email)
            return page(
                request,
                "accounts/login.html",
                status_code=400,
                next=target,
                values={"email": email},
                errors={"_form": "The email or password is not correct."},
            )
        svc.login_per_account.reset(email)
        audit.record(svc.db, "login", actor_id=user.id, ip=ip)
        return _login(request, user.id, target)

    @post("/logout", sync_to_thread=True)
    def logout(self, request: Req) -> Response[Any]:
        auth = get_auth(request.scope)
        if auth.session_id is not None:
            accounts.end_session(services_of(request).db, auth.session_id)
        return _clear_session_cookie(
            redirect(request, "/login", ("success", "You have logged out."))
        )

    # -- password reset ------------------------------------------------------------------

    @get("/forgot-password", sync_to_thread=True)
    def forgot_form(self, request: Req) -> Response[Any]:
        return page(request, "accounts/forgot.html", values={})

    @post("/forgot-password", sync_to_thread=True)
    def forgot(self, request: Req, data: Form) -> Response[Any]:
        _throttle_public(request)
        svc = services_of(request)
        try:
            email = accounts.clean_email(text(data, "email", 300))
        except UserError as exc:
            return page(
                request,
                "accounts/forgot.html",
                status_code=400,
                values={"email": echo(data, "email", 300)},
                errors=form_errors(exc),
            )
        found = accounts.request_password_reset(svc.db, svc.keys, email)
        if found:
            user, token = found
            link = f"{svc.settings.base_url}/reset-password?token={token}"
            try:
                svc.mailer.send_template(
                    user.email, "password_reset", {"name": user.name, "link": link}
                )
            except MailError as exc:
                # The page must not reveal whether the account exists, so this goes to the log.
                log.error("password reset email to user %d failed: %s", user.id, exc.message)
        return redirect(
            request,
            "/login",
            (
                "info",
                "If an account exists for that email, a "
                "link to reset the password is on its way. It "
                "works once, for one hour.",
            ),
        )

    @get("/reset-password", sync_to_thread=True)
    def reset_form(self, request: Req, token: FromQuery[str] = "") -> Response[Any]:
        svc = services_of(request)
        try:
            user = accounts.check_reset_token(svc.db, svc.keys, token)
        except InvalidToken as exc:
            return page(
                request,
                "accounts/link_invalid.html",
                status_code=400,
                message=exc.message,
                retry_url="/forgot-password",
            )
        return page(request, "accounts/reset.html", token=token, email=user.email)

    @post("/reset-password", sync_to_thread=True)
    def reset(self, request: Req, data: Form) -> Response[Any]:
        _throttle_public(request)
        svc = services_of(request)
        token = text(data, "token", 300)
        try:
            password = text(data, "password", 1000)
            if password != text(data, "password_confirm", 1000):
                raise UserError("The two passwords do not match.", "password_confirm")
            user = accounts.reset_password(svc.db, svc.keys, svc.passwords, token, password)
        except InvalidToken as exc:
            return page(
                request,
                "accounts/link_invalid.html",
                status_code=400,
                message=exc.message,
                retry_url="/forgot-password",
            )
        except UserError as exc:
            return page(
                request,
                "accounts/reset.html",
                status_code=400,
                token=token,
                email="",
                errors=form_errors(exc),
            )
        audit.record(svc.db, "password.reset", actor_id=user.id, ip=get_auth(request.scope).ip)
        return _clear_session_cookie(
            redirect(
                request, "/login", ("success", "Your password was changed. Log in with it now.")
            )
        )

    # -- invitations ---------------------------------------------------------------------

    @get("/invite", sync_to_thread=True)
    def invitation(self, request: Req, token: FromQuery[str] = "") -> Response[Any]:
        svc = services_of(request)
        try:
            pending = accounts.find_invitation(svc.db, svc.keys, token)
        except InvalidToken as exc:
            return page(
                request,
                "accounts/link_invalid.html",
                status_code=400,
                message=exc.message,
                retry_url=None,
            )
        return page(request, "accounts/invitation.html", token=token, pending=pending, values={})

    @post("/invite", sync_to_thread=True)
    def accept(self, request: Req, data: Form) -> Response[Any]:
        _throttle_public(request)
        svc = services_of(request)
        auth = get_auth(request.scope)
        token = text(data, "token", 300)
        try:
            pending = accounts.find_invitation(svc.db, svc.keys, token)
        except InvalidToken as exc:
            return page(
                request,
                "accounts/link_invalid.html",
                status_code=400,
                message=exc.message,
                retry_url=None,
            )
        values = {"name": text(data, "name")}
        try:
            if auth.user is not None:
                user, workspace = accounts.accept_invitation(
                    svc.db, svc.keys, svc.passwords, token, user_id=auth.user.id
                )
            else:
                password = text(data, "password", 1000)
                if password != text(data, "password_confirm", 1000):
                    raise UserError("The two passwords do not match.", "password_confirm")
                user, workspace = accounts.accept_invitation(
                    svc.db, svc.keys, svc.passwords, token, name=values["name"], password=password
                )
        except InvalidToken as exc:
            return page(
                request,
                "accounts/link_invalid.html",
                status_code=400,
                message=exc.message,
                retry_url=None,
            )
        except UserError as exc:
            return page(
                request,
                "accounts/invitation.html",
                status_code=exc.status_code,
                token=token,
                pending=pending,
                values=values,
                errors=form_errors(exc),
            )
        audit.record(
            svc.db,
            "invitation.accepted",
            workspace_id=workspace.id,
            actor_id=user.id,
            detail=f"{user.email} joined as {pending.invitation.role}",
            ip=auth.ip,
        )
        flash = ("success", f"Welcome to {workspace.name}.")
        if auth.user is not None:
            return redirect(request, f"/w/{workspace.slug}/", flash)
        response = _login(request, user.id, f"/w/{workspace.slug}/")
        return response

    # -- new workspace -------------------------------------------------------------------

    @get("/workspaces/new", guards=[instance_admin], sync_to_thread=True)
    def new_workspace_form(self, request: Req) -> Response[Any]:
        return page(request, "accounts/new_workspace.html", values={})

    @post("/workspaces/new", guards=[instance_admin], sync_to_thread=True)
    def new_workspace(self, request: Req, data: Form) -> Response[Any]:
        svc = services_of(request)
        auth = get_auth(request.scope)
        assert auth.user is not None
        try:
            workspace = accounts.create_workspace(svc.db, auth.user.id, text(data, "name"))
        except UserError as exc:
            return page(
                request,
                "accounts/new_workspace.html",
                status_code=400,
                values={"name": echo(data, "name")},
                errors=form_errors(exc),
            )
        audit.record(
            svc.db,
            "workspace.created",
            workspace_id=workspace.id,
            actor_id=auth.user.id,
            ip=auth.ip,
        )
        return redirect(
            request, f"/w/{workspace.slug}/", ("success", f"Workspace {workspace.name} created.")
        )


class AccountController(Controller):
    """The signed-in user's own profile, password and sessions."""

    path = "/account"
    guards = [login_required]
    include_in_schema = False

    def _render(self, request: Req, status_code: int = 200, **extra: Any) -> Response[Any]:
        auth = get_auth(request.scope)
        assert auth.user is not None
        sessions = accounts.list_sessions(services_of(request).db, auth.user.id)
        return page(
            request,
            "accounts/account.html",
            nav="account",
            status_code=status_code,
            sessions=sessions,
            current_session_id=auth.session_id,
            **extra,
        )

    @get("/", sync_to_thread=True)
    def show(self, request: Req) -> Response[Any]:
        return self._render(request)

    @post("/profile", sync_to_thread=True)
    def update_profile(self, request: Req, data: Form) -> Response[Any]:
        auth = get_auth(request.scope)
        assert auth.user is not None
        try:
            accounts.update_profile(services_of(request).db, auth.user.id, text(data, "name"))
        except UserError as exc:
            return self._render(request, 400, errors=form_errors(exc))
        return redirect(request, "/account", ("success", "Profile saved."))

    @post("/password", sync_to_thread=True)
    def change_password(self, request: Req, data: Form) -> Response[Any]:
        svc = services_of(request)
        auth = get_auth(request.scope)
        assert auth.user is not None
        try:
            new = text(data, "new_password", 1000)
            if new != text(data, "new_password_confirm", 1000):
                raise UserError("The two passwords do not match.", "new_password_confirm")
            accounts.change_password(
                svc.db,
                svc.passwords,
                auth.user.id,
                text(data, "current_password", 1000),
                new,
                auth.session_id,
            )
        except UserError as exc:
            return self._render(request, 400, errors=form_errors(exc))
        audit.record(svc.db, "password.changed", actor_id=auth.user.id, ip=auth.ip)
        return redirect(
            request,
            "/account",
            ("success", "Password changed. Your other sessions were logged out."),
        )

    @post("/logout-everywhere", sync_to_thread=True)
    def logout_everywhere(self, request: Req) -> Response[Any]:
        svc = services_of(request)
        auth = get_auth(request.scope)
        assert auth.user is not None
        count = accounts.end_all_sessions(svc.db, auth.user.id)
        audit.record(
            svc.db, "sessions.ended", actor_id=auth.user.id, ip=auth.ip, detail=f"{count} sessions"
        )
        return _clear_session_cookie(
            redirect(
                request, "/login", ("success", f"Logged out of {count} session(s) everywhere.")
            )
        )
