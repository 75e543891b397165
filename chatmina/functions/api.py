"""The functions part of the JSON API (/api/v1/functions), with a workspace API key."""

from __future__ import annotations

import json
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.params import JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from chatmina.accounts.schemas import RowId
from chatmina.functions import calls, service
from chatmina.functions.schemas import CallOut, FunctionIn, FunctionOut, FunctionPatch
from chatmina.functions.validation import Submitted, clean
from chatmina.ui.guards import api_key_required, api_workspace
from chatmina.ui.render import api_audit, services_of

Req = Request[Any, Any, Any]


def out(view: service.FunctionView, secret: str | None = None) -> FunctionOut:
    return FunctionOut(
        id=view.id,
        name=view.name,
        description=view.description,
        parameters=view.parameters,
        url=view.url,
        method=view.method,
        timeout_seconds=view.timeout_seconds,
        headers=view.headers,
        enabled=view.enabled,
        only_verified=view.only_verified,
        secret_rotated_at=view.secret_rotated_at,
        previous_secret_expires_at=view.previous_secret_expires_at,
        created_at=view.created_at,
        updated_at=view.updated_at,
        signing_secret=secret,
    )


def _allowed(request: Req) -> frozenset[str]:
    from chatmina.webhooks.client import allowed_private_hosts

    svc = services_of(request)
    return allowed_private_hosts(svc.db, api_workspace(request).id, svc.settings)


def _submitted(data: FunctionIn) -> Submitted:
    return Submitted(
        name=data.name,
        description=data.description,
        parameters=data.parameters,
        url=data.url,
        method=data.method,
        timeout_seconds=data.timeout_seconds,
        headers=data.headers,
        enabled=data.enabled,
        only_verified=data.only_verified,
    )


class FunctionsApi(Controller):
    path = "/api/v1/functions"
    guards = [api_key_required]
    tags = ["AI Functions"]
    security = [{"apiKey": []}]

    @get("/", sync_to_thread=True, summary="List the workspace's AI Functions")
    def list_functions(self, request: Req) -> list[FunctionOut]:
        svc = services_of(request)
        return [out(v) for v in service.list_functions(svc.db, svc.keys, api_workspace(request).id)]

    @post(
        "/",
        sync_to_thread=True,
        status_code=HTTP_201_CREATED,
        summary="Create an AI Function; the answer holds its signing secret, shown only here",
    )
    def create_function(self, request: Req, data: JSONBody[FunctionIn]) -> FunctionOut:
        svc = services_of(request)
        definition = clean(_submitted(data), _allowed(request))
        view, secret = service.create_function(
            svc.db, svc.keys, api_workspace(request).id, definition
        )
        api_audit(request, "function.created", view.name)
        return out(view, secret)

    @get("/{function_id:int}", sync_to_thread=True, summary="Read an AI Function")
    def get_function(self, request: Req, function_id: RowId) -> FunctionOut:
        svc = services_of(request)
        return out(service.get_function(svc.db, svc.keys, api_workspace(request).id, function_id))

    @put("/{function_id:int}", sync_to_thread=True, summary="Replace an AI Function")
    def replace_function(
        self, request: Req, function_id: RowId, data: JSONBody[FunctionIn]
    ) -> FunctionOut:
        svc = services_of(request)
        ws = api_workspace(request).id
        service.get_function(svc.db, svc.keys, ws, function_id)  # 404 before 400
        definition = clean(_submitted(data), _allowed(request))
        view = service.update_function(svc.db, svc.keys, ws, function_id, definition)
        api_audit(request, "function.updated", view.name)
        return out(view)

    @patch("/{function_id:int}", sync_to_thread=True, summary="Change an AI Function")
    def update_function(
        self, request: Req, function_id: RowId, data: JSONBody[FunctionPatch]
    ) -> FunctionOut:
        svc = services_of(request)
        ws = api_workspace(request).id
        current = service.get_function(svc.db, svc.keys, ws, function_id)

        def pick(name: str) -> Any:
            value = getattr(data, name)
            return getattr(current, name) if value is msgspec.UNSET else value

        submitted = Submitted(
            name=pick("name"),
            description=pick("description"),
            parameters=pick("parameters"),
            url=pick("url"),
            method=pick("method"),
            timeout_seconds=pick("timeout_seconds"),
            headers=None if data.headers is msgspec.UNSET else data.headers,
            enabled=pick("enabled"),
            only_verified=pick("only_verified"),
        )
        view = service.update_function(
            svc.db, svc.keys, ws, function_id, clean(submitted, _allowed(request))
        )
        api_audit(request, "function.updated", view.name)
        return out(view)

    @delete(
        "/{function_id:int}",
        sync_to_thread=True,
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete an AI Function and its call log",
    )
    def delete_function(self, request: Req, function_id: RowId) -> None:
        svc = services_of(request)
        name = service.delete_function(svc.db, api_workspace(request).id, function_id)
        api_audit(request, "function.deleted", name)

    @post(
        "/{function_id:int}/rotate-secret",
        sync_to_thread=True,
        status_code=HTTP_200_OK,
        summary="A new signing secret; the previous one keeps signing for 24 hours",
    )
    def rotate_secret(self, request: Req, function_id: RowId) -> FunctionOut:
        svc = services_of(request)
        view, secret = service.rotate_secret(
            svc.db, svc.keys, api_workspace(request).id, function_id
        )
        api_audit(request, "function.secret_rotated", view.name)
        return out(view, secret)

    @get("/{function_id:int}/calls", sync_to_thread=True, summary="An AI Function's call log")
    def list_calls(
        self,
        request: Req,
        function_id: RowId,
        outcome: Annotated[str, QueryParameter(pattern="^(ok|failed)?$")] = "",
        status: Annotated[str, QueryParameter(max_length=4)] = "",
        since: Annotated[str, QueryParameter(max_length=10, description="YYYY-MM-DD")] = "",
        until: Annotated[str, QueryParameter(max_length=10, description="YYYY-MM-DD")] = "",
        q: Annotated[str, QueryParameter(max_length=200)] = "",
    ) -> list[CallOut]:
        svc = services_of(request)
        ws = api_workspace(request).id
        service.get_function(svc.db, svc.keys, ws, function_id)
        wanted = calls.parse_filter(outcome, status, since, until, q)
        return [
            CallOut(
                c.id,
                c.created_at,
                c.conversation_id,
                c.message_id,
                c.attempt,
                c.is_test,
                c.ok,
                c.status_code,
                c.latency_ms,
                c.error,
                json.loads(c.arguments),
                c.response,
            )
            for c in calls.list_calls(svc.db, svc.keys, ws, function_id, wanted)
        ]
