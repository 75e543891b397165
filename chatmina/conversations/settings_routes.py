"""Widget settings: the form, the install snippet, the demo link and the live preview."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath

from chatmina.accounts.roles import Permission
from chatmina.accounts.workspace_routes import widget_snippet
from chatmina.conversations import strings, widget_settings
from chatmina.conversations.widget_settings import WidgetConfig
from chatmina.errors import UserError
from chatmina.ui.forms import Form, checked, echo, text
from chatmina.ui.guards import member_workspace, requires
from chatmina.ui.render import audit, form_errors, page, redirect, services_of
from chatmina.ui.static import static_url

Req = Request[Any, Any, Any]
Slug = FromPath[str]
FIELDS = {
    "title": 500,
    "subtitle": 500,
    "primary_color": 50,
    "text_on_primary": 50,
    "position": 20,
    "avatar_url": 2000,
    "greeting": 5000,
    "suggestions": 5000,
    "launcher_label": 500,
    "default_locale": 50,
    "strings": 50_000,
    "allowed_origins": 20_000,
    "identity_verification": 20,
}
CHECKBOXES = ("handoff_enabled", "notify_by_email")


def _values(config: WidgetConfig) -> dict[str, Any]:
    return {
        "title": config.title,
        "subtitle": config.subtitle,
        "primary_color": config.primary_color,
        "text_on_primary": config.text_on_primary,
        "position": config.position,
        "avatar_url": config.avatar_url,
        "greeting": config.greeting,
        "suggestions": "\n".join(config.suggestions),
        "launcher_label": config.launcher_label,
        "default_locale": config.default_locale,
        "strings": widget_settings.format_strings(config.strings),
        "allowed_origins": "\n".join(config.allowed_origins),
        "identity_verification": config.identity_verification,
        "handoff_enabled": config.handoff_enabled,
        "notify_by_email": config.notify_by_email,
    }


def _preview_script() -> str | None:
    """The live preview's module (web/static/js/widget-preview.js), when it is installed."""
    try:
        return static_url("js/widget-preview.js")
    except KeyError:
        return None


class WidgetSettingsController(Controller):
    path = "/w/{slug:str}/widget"
    include_in_schema = False
    guards = [requires(Permission.MANAGE_SETTINGS)]

    def _page(
        self,
        request: Req,
        values: dict[str, Any] | None = None,
        status_code: int = 200,
        **extra: Any,
    ) -> Response[Any]:
        svc = services_of(request)
        workspace = member_workspace(request)
        config = widget_settings.load(svc.db, svc.keys, workspace.id)
        return page(
            request,
            "conversations/widget_settings.html",
            nav="widget",
            status_code=status_code,
            values=values if values is not None else _values(config),
            config=config,
            snippet=widget_snippet(svc.settings.base_url, workspace.public_id),
            demo_url=f"/demo/{workspace.public_id}",
            string_keys=sorted(strings.DEFAULT_STRINGS),
            locales=strings.LOCALES,
            preview_script=_preview_script(),
            **extra,
        )

    @get("/", sync_to_thread=True)
    def show(self, request: Req, slug: Slug) -> Response[Any]:
        return self._page(request)

    @post("/", sync_to_thread=True)
    def save(self, request: Req, slug: Slug, data: Form) -> Response[Any]:
        svc = services_of(request)
        workspace = member_workspace(request)
        try:
            form = {name: text(data, name, limit) for name, limit in FIELDS.items()}
            for box in CHECKBOXES:
                form[box] = "on" if checked(data, box) else ""
            widget_settings.save(svc.db, svc.keys, workspace.id, form)
        except UserError as exc:
            values: dict[str, Any] = {name: echo(data, name, n) for name, n in FIELDS.items()}
            values.update({box: checked(data, box) for box in CHECKBOXES})
            return self._page(request, values, exc.status_code, errors=form_errors(exc))
        svc.live.forget_site(workspace.public_id)
        audit(request, "widget.settings_changed", "Widget settings saved")
        return redirect(request, f"/w/{slug}/widget", ("success", "Widget settings saved."))

    @post("/rotate-secret", sync_to_thread=True)
    def rotate(self, request: Req, slug: Slug) -> Response[Any]:
        svc = services_of(request)
        workspace = member_workspace(request)
        secret = widget_settings.rotate_secret(svc.db, svc.keys, workspace.id)
        audit(request, "widget.identity_secret_rotated")
        return self._page(request, new_secret=secret)
