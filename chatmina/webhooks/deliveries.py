"""The delivery log of a workspace: listing, filtering, attempts, and redelivery."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select, update

from chatmina import clock
from chatmina.errors import Conflict, NotFound
from chatmina.storage.db import Database
from chatmina.webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint

STATES = ("pending", "delivered", "dead")


@dataclass(frozen=True)
class DeliveryRow:
    delivery: Delivery
    endpoint_url: str
    endpoint_public_id: str


@dataclass(frozen=True)
class DeliveryPage:
    rows: list[DeliveryRow]
    total: int
    page: int
    per_page: int


def list_deliveries(
    db: Database,
    workspace_id: int,
    *,
    state: str | None = None,
    endpoint: str | None = None,
    q: str = "",
    page: int = 1,
    per_page: int = 50,
) -> DeliveryPage:
    """Newest first. ``q`` finds a webhook-id, an event type or words in the payload."""
    query = (
        select(Delivery, WebhookEndpoint.url, WebhookEndpoint.public_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == Delivery.endpoint_id)
        .where(Delivery.workspace_id == workspace_id)
    )
    if state in STATES:
        query = query.where(Delivery.state == state)
    if endpoint:
        query = query.where(WebhookEndpoint.public_id == endpoint)
    if q.strip():
        needle = "%" + q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                Delivery.msg_id.like(needle, escape="\\"),
                Delivery.event_type.like(needle, escape="\\"),
                Delivery.payload.like(needle, escape="\\"),
            )
        )
    with db.read() as s:
        total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = s.execute(
            query.order_by(Delivery.id.desc()).offset((page - 1) * per_page).limit(per_page)
        ).all()
    return DeliveryPage([DeliveryRow(*row) for row in rows], total, page, per_page)


def get_delivery(
    db: Database, workspace_id: int, msg_id: str
) -> tuple[Delivery, list[DeliveryAttempt]]:
    with db.read() as s:
        delivery = s.scalar(
            select(Delivery).where(Delivery.workspace_id == workspace_id, Delivery.msg_id == msg_id)
        )
        if delivery is None:
            raise NotFound("No such delivery in this workspace.")
        attempts = list(
            s.scalars(
                select(DeliveryAttempt)
                .where(DeliveryAttempt.delivery_id == delivery.id)
                .order_by(DeliveryAttempt.id)
            )
        )
    return delivery, attempts


def redeliver(db: Database, workspace_id: int, msg_id: str) -> Delivery:
    """Queue a finished delivery again, now, with the same webhook-id and a fresh schedule
    (its attempts keep their numbers: the next one is 9 after 8)."""
    with db.write() as s:
        delivery = s.scalar(
            select(Delivery).where(Delivery.workspace_id == workspace_id, Delivery.msg_id == msg_id)
        )
        if delivery is None:
            raise NotFound("No such delivery in this workspace.")
        if delivery.state == "pending":
            raise Conflict("This delivery is still queued; it will be tried again on its own.")
        s.execute(
            update(Delivery)
            .where(Delivery.id == delivery.id)
            .values(
                state="pending",
                round_start=Delivery.attempts,
                next_attempt_at=clock.now(),
                claimed_until=None,
                finished_at=None,
            )
        )
    return delivery
