"""Functions pages: the list, a function's settings (edit, enable, rotate its secret,
delete, test) and its call log. Forms first; every page works without JavaScript."""

from __future__ import annotations

import json
from functools import partial
from typing import Annotated, Any

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, QueryParameter

from chatmina.accounts.roles import Permission
from chatmina.accounts.schemas import RowId
from chatmina.assistant.tools import ArgumentsInvalid, Tool, parse_arguments
from chatmina.errors import UserError
from chatmina.functions import calls, service
from chatmina.functions.dispatch import FunctionDispatcher
from chatmina.functions.sample import sample
from chatmina.functions.validation import (
    METHODS,
    Submitted,
    clean,
    parse_header_lines,
    parse_schema_text,
)
from chatmina.ui.forms import Form, checked, echo, text
from chatmina.ui.guards import member_workspace, requires
from chatmina.ui.render import audit, form_errors, page, redirect, services_of

Req = Request[Any, Any, Any]
Slug = FromPath[str]
# Bounded here; the service checks the values and the form shows its messages.
Query = Annotated[str, QueryParameter(max_length=200)]
MANAGE = requires(Permission.MANAGE_FUNCTIONS)
FIELD_LIMITS = {
    "name": 500,
    "description": 20_000,
    "parameters": 200_000,
    "url": 4000,
    "method": 20,
    "timeout_seconds": 20,
    "headers": 100_000,
}
NEW_PARAMETERS = json.dumps(
    {
        "type": "object",
        "properties": {"order_id": {"type": "string", "description": "The order number"}},
        "required": ["order_id"],
    },
    indent=2,
)


def _ws(request: Req) -> int:
    return member_workspace(request).id


def _allowed(request: Req) -> frozenset[str]:
    from chatmina.webhooks.client import allowed_private_hosts

    svc = services_of(request)
    return allowed_private_hosts(svc.db, _ws(request), svc.settings)


def _values(view: service.FunctionView | None) -> dict[str, Any]:
    if view is None:
        return {
            "name": "",
            "description": "",
            "parameters": NEW_PARAMETERS,
            "url": "",
            "method": "POST",
            "timeout_seconds": "10",
            "headers": "",
            "enabled": True,
            "only_verified": False,
        }
    return {
        "name": view.name,
        "description": view.description,
        "parameters": json.dumps(view.parameters, indent=2),
        "url": view.url,
        "method": view.method,
        "timeout_seconds": str(view.timeout_seconds),
        "headers": "",
        "enabled": view.enabled,
        "only_verified": view.only_verified,
    }


def _echo(data: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {name: echo(data, name, n) for name, n in FIELD_LIMITS.items()}
    values["enabled"] = checked(data, "enabled")
    values["only_verified"] = checked(data, "only_verified")
    return values


def _submitted(data: dict[str, Any], editing: bool) -> Submitted:
    fields = {name: text(data, name, n) for name, n in FIELD_LIMITS.items()}
    headers: dict[str, Any] | None = parse_header_lines(fields["headers"])
    if editing and not headers:
        headers = {} if checked(data, "clear_headers") else None  # blank: keep them
    return Submitted(
        name=fields["name"],
        description=fields["description"],
        parameters=parse_schema_text(fields["parameters"]),
        url=fields["url"],
        method=fields["method"],
        timeout_seconds=fields["timeout_seconds"],
        headers=headers,
        enabled=checked(data, "enabled"),
        only_verified=checked(data, "only_verified"),
    )


def _sample_text(view: service.FunctionView) -> str:
    return json.dumps(sample(view.parameters) or {}, indent=2)


class FunctionsController(Controller):
    path = "/w/{slug:str}/functions"
    include_in_schema = False
    guards = [MANAGE]

    # -- pages -----------------------------------------------------------------------------

    def _form_page(
        self, request: Req, values: dict[str, Any], status_code: int = 200, **extra: Any
    ) -> Response[Any]:
        return page(
            request,
            "functions/new.html",
            nav="functions",
            status_code=status_code,
            values=values,
            methods=[(m, m) for m in METHODS],
            **extra,
        )

    def _detail(
        self,
        request: Req,
        function_id: int,
        values: dict[str, Any] | None = None,
        status_code: int = 200,
        view: service.FunctionView | None = None,  # already read by the route
        **extra: Any,
    ) -> Response[Any]:
        svc = services_of(request)
        if view is None:
            view = service.get_function(svc.db, svc.keys, _ws(request), function_id)
        extra.setdefault("arguments", _sample_text(view))
        return page(
            request,
            "functions/detail.html",
            nav="functions",
            status_code=status_code,
            function=view,
            values=values if values is not None else _values(view),
            methods=[(m, m) for m in METHODS],
            recent=calls.list_calls(
                svc.db, svc.keys, _ws(request), view.id, calls.CallFilter(), limit=5
            ),
            **extra,
        )

    @get("/", sync_to_thread=True)
    def index(self, request: Req, slug: Slug) -> Response[Any]:
        svc = services_of(request)
        return page(
            request,
            "functions/list.html",
            nav="functions",
            functions=service.list_functions(svc.db, svc.keys, _ws(request)),
        )

    @get("/new", sync_to_thread=True)
    def new(self, request: Req, slug: Slug) -> Response[Any]:
        return self._form_page(request, _values(None))

    @post("/", sync_to_thread=True)
    def create(self, request: Req, slug: Slug, data: Form) -> Response[Any]:
        svc = services_of(request)
        try:
            definition = clean(_submitted(data, editing=False), _allowed(request))
            view, secret = service.create_function(svc.db, svc.keys, _ws(request), definition)
        except UserError as exc:
            return self._form_page(request, _echo(data), exc.status_code, errors=form_errors(exc))
        audit(request, "function.created", view.name)
        return page(
            request,
            "functions/secret.html",
            nav="functions",
            status_code=201,
            function=view,
            secret=secret,
            created=True,
        )

    @get("/{function_id:int}", sync_to_thread=True)
    def detail(self, request: Req, slug: Slug, function_id: RowId) -> Response[Any]:
        return self._detail(request, function_id)

    @post("/{function_id:int}", sync_to_thread=True)
    def save(self, request: Req, slug: Slug, function_id: RowId, data: Form) -> Response[Any]:
        svc = services_of(request)
        current = service.get_function(svc.db, svc.keys, _ws(request), function_id)  # 404 first
        try:
            definition = clean(_submitted(data, editing=True), _allowed(request))
            view = service.update_function(svc.db, svc.keys, _ws(request), function_id, definition)
        except UserError as exc:
            values = _echo(data)
            return self._detail(
                request, function_id, values, exc.status_code, current, errors=form_errors(exc)
            )
        audit(request, "function.updated", view.name)
        return redirect(
            request, f"/w/{slug}/functions/{view.id}", ("success", f"{view.name} saved.")
        )

    @post("/{function_id:int}/enabled", sync_to_thread=True)
    def set_enabled(
        self, request: Req, slug: Slug, function_id: RowId, data: Form
    ) -> Response[Any]:
        svc = services_of(request)
        on = text(data, "enabled", 5) == "1"
        name = service.set_enabled(svc.db, svc.keys, _ws(request), function_id, on)
        audit(request, "function.enabled" if on else "function.disabled", name)
        state = "enabled: the assistant may call it" if on else "disabled"
        return redirect(
            request, f"/w/{slug}/functions/{function_id}", ("success", f"{name} {state}.")
        )

    @post("/{function_id:int}/delete", sync_to_thread=True)
    def delete(self, request: Req, slug: Slug, function_id: RowId) -> Response[Any]:
        name = service.delete_function(services_of(request).db, _ws(request), function_id)
        audit(request, "function.deleted", name)
        return redirect(request, f"/w/{slug}/functions", ("success", f"{name} deleted."))

    @post("/{function_id:int}/rotate", sync_to_thread=True)
    def rotate(self, request: Req, slug: Slug, function_id: RowId) -> Response[Any]:
        svc = services_of(request)
        view, secret = service.rotate_secret(svc.db, svc.keys, _ws(request), function_id)
        audit(request, "function.secret_rotated", view.name)
        return page(
            request,
            "functions/secret.html",
            nav="functions",
            function=view,
            secret=secret,
            created=False,
        )

    @post("/{function_id:int}/test")
    async def test(self, request: Req, slug: Slug, function_id: RowId, data: Form) -> Response[Any]:
        """Send one call with the arguments typed (or the sample); show what came back."""
        svc = services_of(request)
        ws = _ws(request)
        view = await anyio.to_thread.run_sync(
            service.get_function, svc.db, svc.keys, ws, function_id
        )
        raw = echo(data, "arguments", 100_000)
        try:
            typed = text(data, "arguments", 100_000)
            arguments = parse_arguments(Tool(view.name, view.description, view.parameters), typed)
        except (ArgumentsInvalid, UserError) as exc:
            message = f"The test was not sent: {exc}." if isinstance(exc, ArgumentsInvalid) else ""
            errors = {"arguments": message} if message else form_errors(exc)
            return await anyio.to_thread.run_sync(
                partial(
                    self._detail,
                    request,
                    function_id,
                    None,
                    400,
                    view,
                    errors=errors,
                    arguments=raw,
                )
            )
        dispatcher = svc.answerer.dispatcher
        if not isinstance(dispatcher, FunctionDispatcher):
            dispatcher = FunctionDispatcher(svc.db, svc.keys, svc.settings)
        sent = await dispatcher.test(ws, function_id, arguments)
        await anyio.to_thread.run_sync(partial(audit, request, "function.tested", view.name))
        return await anyio.to_thread.run_sync(
            partial(self._detail, request, function_id, None, 200, view, tested=sent, arguments=raw)
        )

    @get("/{function_id:int}/calls", sync_to_thread=True)
    def call_log(
        self,
        request: Req,
        slug: Slug,
        function_id: RowId,
        outcome: Query = "",
        status: Query = "",
        since: Query = "",
        until: Query = "",
        q: Query = "",
    ) -> Response[Any]:
        svc = services_of(request)
        view = service.get_function(svc.db, svc.keys, _ws(request), function_id)
        shown = {
            "outcome": outcome[:10],
            "status": status[:10],
            "since": since[:20],
            "until": until[:20],
            "q": q[:200],
        }
        errors: dict[str, str] = {}
        found: list[calls.CallView] = []
        try:
            wanted = calls.parse_filter(outcome, status, since, until, q)
            found = calls.list_calls(svc.db, svc.keys, _ws(request), function_id, wanted)
        except UserError as exc:
            errors = form_errors(exc)
        return page(
            request,
            "functions/calls.html",
            nav="functions",
            status_code=400 if errors else 200,
            function=view,
            calls=found,
            filters=shown,
            errors=errors,
            page_size=calls.PAGE_SIZE,
        )
