"""Webhooks pages: endpoints (add, edit, enable, rotate, delete), the workspace's
private-host allowlist, and the delivery log with dead letters to redeliver."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, QueryParameter

from chatmina.accounts.roles import Permission
from chatmina.errors import UserError
from chatmina.ui.forms import Form, checked, echo, text
from chatmina.ui.guards import member_workspace, requires
from chatmina.ui.render import audit, form_errors, page, redirect, services_of
from chatmina.webhooks import deliveries, service

Req = Request[Any, Any, Any]
Slug = FromPath[str]
Query = Annotated[str, QueryParameter(max_length=200)]
Key = FromPath[str]  # an endpoint's we_... or a delivery's msg_...


def _ws(request: Req) -> int:
    return member_workspace(request).id


def _events(data: dict[str, Any]) -> list[str]:
    """Checked event types: a repeated field arrives as a list, a single one as a string."""
    raw = data.get("events", [])
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or len(values) > 50:
        raise UserError("Choose event types from the list.", "events")
    return [v[:60] for v in values if isinstance(v, str)]


def _submitted(data: dict[str, Any]) -> service.EndpointInput:
    return service.EndpointInput(
        url=text(data, "url", 2000),
        events=_events(data),
        description=text(data, "description", 500),
        enabled=checked(data, "enabled"),
    )


def _echo(data: dict[str, Any]) -> dict[str, Any]:
    try:
        events = _events(data)
    except UserError:
        events = []
    return {
        "url": echo(data, "url", 2000),
        "description": echo(data, "description", 500),
        "events": events,
        "enabled": checked(data, "enabled"),
    }


NEW = {"url": "", "description": "", "events": ["conversation.*"], "enabled": True}


class WebhooksController(Controller):
    path = "/w/{slug:str}/webhooks"
    include_in_schema = False
    guards = [requires(Permission.MANAGE_FUNCTIONS)]

    def _index(self, request: Req, status_code: int = 200, **extra: Any) -> Response[Any]:
        db = services_of(request).db
        extra.setdefault("values", NEW)
        extra.setdefault("hosts", service.private_hosts(db, _ws(request)))
        return page(
            request,
            "webhooks/list.html",
            nav="webhooks",
            status_code=status_code,
            endpoints=service.list_endpoints(db, _ws(request)),
            patterns=service.event_patterns(),
            **extra,
        )

    def _detail(
        self, request: Req, endpoint_id: str, status_code: int = 200, **extra: Any
    ) -> Response[Any]:
        db = services_of(request).db
        endpoint = service.get_endpoint(db, _ws(request), endpoint_id)
        extra.setdefault(
            "values",
            {
                "url": endpoint.url,
                "description": endpoint.description,
                "events": endpoint.events,
                "enabled": endpoint.enabled,
            },
        )
        recent = deliveries.list_deliveries(db, _ws(request), endpoint=endpoint_id, per_page=10)
        return page(
            request,
            "webhooks/detail.html",
            nav="webhooks",
            status_code=status_code,
            endpoint=endpoint,
            patterns=service.event_patterns(),
            recent=recent.rows,
            **extra,
        )

    @get("/", sync_to_thread=True)
    def index(self, request: Req, slug: Slug) -> Response[Any]:
        return self._index(request)

    @post("/", sync_to_thread=True)
    def create(self, request: Req, slug: Slug, data: Form) -> Response[Any]:
        svc = services_of(request)
        try:
            given = _submitted(data)
            endpoint, secret = service.create_endpoint(
                svc.db, svc.keys, svc.settings, _ws(request), given
            )
        except UserError as exc:
            return self._index(
                request, exc.status_code, values=_echo(data), errors=form_errors(exc)
            )
        audit(request, "webhook.created", endpoint.url)
        return page(
            request,
            "webhooks/secret.html",
            nav="webhooks",
            status_code=201,
            endpoint=endpoint,
            secret=secret,
            created=True,
        )

    @post("/allowlist", sync_to_thread=True)
    def save_allowlist(self, request: Req, slug: Slug, data: Form) -> Response[Any]:
        try:
            stored = service.save_private_hosts(
                services_of(request).db, _ws(request), text(data, "allowed_private_hosts", 5000)
            )
        except UserError as exc:
            hosts = echo(data, "allowed_private_hosts", 5000)
            return self._index(request, exc.status_code, hosts=hosts, errors=form_errors(exc))
        audit(request, "webhook.allowlist_changed", stored.replace("\n", ", "))
        return redirect(request, f"/w/{slug}/webhooks", ("success", "Private hosts saved."))

    @get("/deliveries", sync_to_thread=True)
    def delivery_log(
        self,
        request: Req,
        slug: Slug,
        wanted_state: Annotated[str, QueryParameter(name="state", max_length=20)] = "",
        endpoint: Query = "",
        q: Query = "",
        page_number: Annotated[int, QueryParameter(name="page", ge=1, le=100_000)] = 1,
    ) -> Response[Any]:
        db = services_of(request).db
        shown = deliveries.list_deliveries(
            db, _ws(request), state=wanted_state or None, endpoint=endpoint or None, q=q,
            page=page_number,
        )  # fmt: skip
        return page(
            request,
            "webhooks/deliveries.html",
            nav="webhooks",
            found=shown,
            endpoint_options=[
                (e.public_id, e.url) for e in service.list_endpoints(db, _ws(request))
            ],
            filters={"state": wanted_state, "endpoint": endpoint, "q": q},
            states=deliveries.STATES,
        )

    @get("/deliveries/{msg_id:str}", sync_to_thread=True)
    def delivery(self, request: Req, slug: Slug, msg_id: Key) -> Response[Any]:
        found, attempts = deliveries.get_delivery(services_of(request).db, _ws(request), msg_id)
        return page(
            request, "webhooks/delivery.html", nav="webhooks", delivery=found, attempts=attempts
        )

    @post("/deliveries/{msg_id:str}/redeliver", sync_to_thread=True)
    def redeliver(self, request: Req, slug: Slug, msg_id: Key) -> Response[Any]:
        found = deliveries.redeliver(services_of(request).db, _ws(request), msg_id)
        audit(request, "webhook.redelivered", found.msg_id)
        return redirect(
            request,
            f"/w/{slug}/webhooks/deliveries/{found.msg_id}",
            ("success", "Queued again: it is sent within a few seconds, with the same webhook-id."),
        )

    @get("/{endpoint_id:str}", sync_to_thread=True)
    def detail(self, request: Req, slug: Slug, endpoint_id: Key) -> Response[Any]:
        return self._detail(request, endpoint_id)

    @post("/{endpoint_id:str}", sync_to_thread=True)
    def save(self, request: Req, slug: Slug, endpoint_id: Key, data: Form) -> Response[Any]:
        svc = services_of(request)
        service.get_endpoint(svc.db, _ws(request), endpoint_id)  # 404 first
        try:
            endpoint = service.update_endpoint(
                svc.db, svc.settings, _ws(request), endpoint_id, _submitted(data)
            )
        except UserError as exc:
            return self._detail(
                request, endpoint_id, exc.status_code, values=_echo(data), errors=form_errors(exc)
            )
        audit(request, "webhook.updated", endpoint.url)
        return redirect(
            request, f"/w/{slug}/webhooks/{endpoint_id}", ("success", "Endpoint saved.")
        )

    @post("/{endpoint_id:str}/rotate", sync_to_thread=True)
    def rotate(self, request: Req, slug: Slug, endpoint_id: Key) -> Response[Any]:
        svc = services_of(request)
        endpoint, secret = service.rotate_secret(svc.db, svc.keys, _ws(request), endpoint_id)
        audit(request, "webhook.secret_rotated", endpoint.url)
        return page(
            request,
            "webhooks/secret.html",
            nav="webhooks",
            endpoint=endpoint,
            secret=secret,
            created=False,
        )

    @post("/{endpoint_id:str}/delete", sync_to_thread=True)
    def delete(self, request: Req, slug: Slug, endpoint_id: Key) -> Response[Any]:
        endpoint = service.delete_endpoint(services_of(request).db, _ws(request), endpoint_id)
        audit(request, "webhook.deleted", endpoint.url)
        return redirect(request, f"/w/{slug}/webhooks", ("success", "Endpoint deleted."))
