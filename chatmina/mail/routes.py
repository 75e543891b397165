"""Instance email pages: SMTP settings, a test message, and the outbox."""

from __future__ import annotations

import html
import re
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from markupsafe import Markup

from chatmina.accounts import service as accounts
from chatmina.errors import UserError
from chatmina.mail.service import SECURITY_CHOICES
from chatmina.ui.context import get_auth
from chatmina.ui.forms import Form, checked, echo, text
from chatmina.ui.guards import instance_admin
from chatmina.ui.render import audit, form_errors, page, redirect, services_of

Req = Request[Any, Any, Any]
_URL = re.compile(r"https?://[^\s<>\"]+")


def linkify(body: str) -> Markup:
    """Plain text with its URLs clickable; everything else escaped."""
    out, last = [], 0
    for match in _URL.finditer(body):
        out.append(html.escape(body[last : match.start()]))
        url = html.escape(match.group(0))
        out.append(f'<a href="{url}" rel="noreferrer">{url}</a>')
        last = match.end()
    out.append(html.escape(body[last:]))
    return Markup("".join(out))  # noqa: S704 - every piece above is escaped


class EmailController(Controller):
    path = "/instance"
    guards = [instance_admin]
    include_in_schema = False

    def _email_page(self, request: Req, status_code: int = 200, **extra: Any) -> Response[Any]:
        smtp = services_of(request).mailer.smtp_settings()
        values = extra.pop("values", None) or {
            "host": smtp.host if smtp else "",
            "port": str(smtp.port) if smtp else "587",
            "security": smtp.security if smtp else "starttls",
            "username": smtp.username if smtp else "",
            "from_address": smtp.from_address if smtp else "",
        }
        return page(
            request,
            "mail/email.html",
            nav="email",
            status_code=status_code,
            smtp=smtp,
            values=values,
            password_stored=bool(smtp and smtp.password),
            security_choices=SECURITY_CHOICES,
            **extra,
        )

    @get("/email", sync_to_thread=True)
    def show(self, request: Req) -> Response[Any]:
        return self._email_page(request)

    @post("/email", sync_to_thread=True)
    def save(self, request: Req, data: Form) -> Response[Any]:
        svc = services_of(request)
        fields = ("host", "port", "security", "username", "from_address")
        values = {k: echo(data, k, 300) for k in fields}
        clear = checked(data, "clear_password")
        try:
            password = text(data, "password", 1024)
            svc.mailer.save_smtp_settings(
                **{k: text(data, k, 300) for k in fields},
                password="" if clear else (password or None),
            )
        except UserError as exc:
            return self._email_page(request, 400, values=values, errors=form_errors(exc))
        audit(request, "smtp.updated")
        return redirect(request, "/instance/email", ("success", "Email settings saved."))

    @post("/email/test", sync_to_thread=True)
    def send_test(self, request: Req, data: Form) -> Response[Any]:
        svc = services_of(request)
        auth = get_auth(request.scope)
        assert auth.user is not None
        try:
            to = accounts.clean_email(text(data, "to", 300) or auth.user.email, "to")
            via = svc.mailer.send_template(to, "test", {"name": auth.user.name})
        except UserError as exc:  # a bad address, or MailError from the server
            return redirect(request, "/instance/email", ("error", exc.message))
        where = "Sent through the SMTP server" if via == "smtp" else "Written to the outbox"
        return redirect(request, "/instance/email", ("success", f"{where}: a test email to {to}."))

    @get("/outbox", sync_to_thread=True)
    def outbox(self, request: Req) -> Response[Any]:
        svc = services_of(request)
        return page(
            request,
            "mail/outbox.html",
            nav="outbox",
            messages=svc.mailer.outbox_messages(),
            smtp_configured=svc.mailer.smtp_settings() is not None,
        )

    @get("/outbox/{message_id:str}", sync_to_thread=True)
    def outbox_message(self, request: Req, message_id: FromPath[str]) -> Response[Any]:
        message = services_of(request).mailer.outbox_message(message_id)
        return page(
            request,
            "mail/outbox_message.html",
            nav="outbox",
            message=message,
            body=linkify(message.text),
        )
