"""The event webhook endpoints part of the JSON API (/api/v1/webhook-endpoints)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from chatmina.ui.guards import api_key_required, api_workspace
from chatmina.ui.render import api_audit, services_of
from chatmina.webhooks import service
from chatmina.webhooks.models import WebhookEndpoint
from chatmina.webhooks.schemas import EndpointIn, EndpointOut, EndpointPatch, EndpointWithSecret

Req = Request[Any, Any, Any]
EndpointId = Annotated[str, Parameter(min_length=1, max_length=40, description="we_...")]


def endpoint_out(endpoint: WebhookEndpoint) -> EndpointOut:
    return EndpointOut(
        endpoint.public_id,
        endpoint.url,
        endpoint.description,
        list(endpoint.events),
        endpoint.enabled,
        endpoint.disabled_reason,
        endpoint.failing_since,
        endpoint.previous_secret_expires_at,
        endpoint.created_at,
        endpoint.updated_at,
    )


def _with_secret(endpoint: WebhookEndpoint, secret: str) -> EndpointWithSecret:
    return EndpointWithSecret(
        **msgspec.structs.asdict(endpoint_out(endpoint)), signing_secret=secret
    )


class WebhooksApi(Controller):
    path = "/api/v1/webhook-endpoints"
    guards = [api_key_required]
    tags = ["Webhooks"]
    security = [{"apiKey": []}]

    @post(
        "/",
        sync_to_thread=True,
        status_code=HTTP_201_CREATED,
        summary="Create an endpoint; the answer holds its signing secret, shown only once",
    )
    def create(self, request: Req, data: JSONBody[EndpointIn]) -> EndpointWithSecret:
        svc = services_of(request)
        given = service.EndpointInput(data.url, data.events, data.description, data.enabled)
        endpoint, secret = service.create_endpoint(
            svc.db, svc.keys, svc.settings, api_workspace(request).id, given
        )
        api_audit(request, "webhook.created", endpoint.url)
        return _with_secret(endpoint, secret)

    @get("/", sync_to_thread=True, summary="List the workspace's endpoints")
    def list_endpoints(self, request: Req) -> list[EndpointOut]:
        found = service.list_endpoints(services_of(request).db, api_workspace(request).id)
        return [endpoint_out(e) for e in found]

    @get("/{endpoint_id:str}", sync_to_thread=True, summary="Read an endpoint")
    def read(self, request: Req, endpoint_id: EndpointId) -> EndpointOut:
        db = services_of(request).db
        return endpoint_out(service.get_endpoint(db, api_workspace(request).id, endpoint_id))

    @patch("/{endpoint_id:str}", sync_to_thread=True, summary="Change an endpoint")
    def update(
        self, request: Req, endpoint_id: EndpointId, data: JSONBody[EndpointPatch]
    ) -> EndpointOut:
        svc = services_of(request)
        ws = api_workspace(request).id
        current = service.get_endpoint(svc.db, ws, endpoint_id)

        def pick(value: Any, default: Any) -> Any:
            return default if value is msgspec.UNSET else value

        given = service.EndpointInput(
            pick(data.url, current.url),
            pick(data.events, current.events),
            pick(data.description, current.description),
            pick(data.enabled, current.enabled),
        )
        endpoint = service.update_endpoint(svc.db, svc.settings, ws, endpoint_id, given)
        api_audit(request, "webhook.updated", endpoint.url)
        return endpoint_out(endpoint)

    @delete(
        "/{endpoint_id:str}",
        sync_to_thread=True,
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete an endpoint and its delivery log",
    )
    def remove(self, request: Req, endpoint_id: EndpointId) -> None:
        db = services_of(request).db
        endpoint = service.delete_endpoint(db, api_workspace(request).id, endpoint_id)
        api_audit(request, "webhook.deleted", endpoint.url)

    @post(
        "/{endpoint_id:str}/rotate-secret",
        sync_to_thread=True,
        status_code=HTTP_200_OK,
        summary="A new signing secret (shown once); the previous one keeps signing for 24 h",
    )
    def rotate(self, request: Req, endpoint_id: EndpointId) -> EndpointWithSecret:
        svc = services_of(request)
        endpoint, secret = service.rotate_secret(
            svc.db, svc.keys, api_workspace(request).id, endpoint_id
        )
        api_audit(request, "webhook.secret_rotated", endpoint.url)
        return _with_secret(endpoint, secret)
