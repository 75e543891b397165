"""The durable delivery queue: one row per event and endpoint, retried on a schedule.

Rows are written by :func:`record_event` in the emitter's own transaction, so an event is
queued exactly when what it reports is committed. A worker claims due rows by setting a
lease (``claimed_until``) in one short ``BEGIN IMMEDIATE`` transaction, sends them, and
records the results in batches. A process that dies while sending leaves its lease to run
out; the next claim sends the delivery again with the same webhook-id.

Retry schedule (docs/webhooks.md): after a failed attempt the next one waits about 5 s,
30 s, 2 min, 10 min, 1 h, 6 h, then 24 h (each +/-20% jitter), so 8 attempts over about a
day and a half; after the 8th the delivery is a dead letter, redeliverable from the UI.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from chatmina import clock
from chatmina.events import Event
from chatmina.webhooks import signing
from chatmina.webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint
from chatmina.webhooks.service import matches

if TYPE_CHECKING:
    from chatmina.webhooks.client import Response

RETRY_DELAYS = (
    dt.timedelta(seconds=5),
    dt.timedelta(seconds=30),
    dt.timedelta(minutes=2),
    dt.timedelta(minutes=10),
    dt.timedelta(hours=1),
    dt.timedelta(hours=6),
    dt.timedelta(hours=24),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
JITTER = 0.2
DISABLE_AFTER = dt.timedelta(days=3)
EXCERPT_CHARS = 1000
INTERRUPTED = "interrupted: the server stopped before this attempt finished"


def payload_of(event: Event) -> str:
    """The Standard Webhooks envelope, serialized once: every attempt signs these bytes."""
    envelope = {
        "type": event.type,
        "timestamp": event.occurred_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "data": event.data,
    }
    # default=str: a datetime or UUID in an emitter's data must not fail the emitter's write.
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False, default=str)


def record_event(session: Session, event: Event) -> None:
    """EventBus recorder: queue one delivery per enabled endpoint subscribed to the event."""
    subscribed = session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.events).where(
            WebhookEndpoint.workspace_id == event.workspace_id, WebhookEndpoint.enabled
        )
    ).all()
    targets = [endpoint_id for endpoint_id, patterns in subscribed if matches(patterns, event.type)]
    if not targets:
        return
    now = clock.now()
    body = payload_of(event)
    session.execute(
        insert(Delivery),
        [
            {
                "msg_id": signing.new_message_id(),
                "workspace_id": event.workspace_id,
                "endpoint_id": endpoint_id,
                "event_type": event.type,
                "payload": body,
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "claimed_until": None,
                "last_status": None,
                "last_error": None,
                "created_at": now,
                "finished_at": None,
            }
            for endpoint_id in targets
        ],
    )


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    msg_id: str
    attempt: int  # this attempt's number, from 1, counted across redeliveries
    in_round: int  # its number in the retry schedule (from 1 again after a redelivery)
    workspace_id: int
    endpoint: WebhookEndpoint  # detached copy: url and encrypted secrets
    payload: bytes


def claim_due(session: Session, now: dt.datetime, limit: int, lease: dt.timedelta) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries (call inside db.write(), i.e. BEGIN IMMEDIATE)."""
    rows = session.execute(
        select(Delivery, WebhookEndpoint)
        .join(WebhookEndpoint, WebhookEndpoint.id == Delivery.endpoint_id)
        .where(
            Delivery.state == "pending",
            Delivery.next_attempt_at <= now,
            or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now),
            WebhookEndpoint.enabled,
        )
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    ).all()
    if not rows:
        return []
    interrupted = [
        {
            "delivery_id": d.id,
            "workspace_id": d.workspace_id,
            "attempt": d.attempts,
            "started_at": d.claimed_until - lease,
            "status": None,
            "latency_ms": 0.0,
            "response_excerpt": "",
            "error": INTERRUPTED,
        }
        for d, _ in rows
        if d.claimed_until is not None
    ]
    if interrupted:
        session.execute(insert(DeliveryAttempt), interrupted)
    claimed = [
        Claimed(
            d.id,
            d.msg_id,
            d.attempts + 1,
            d.attempts + 1 - d.round_start,
            d.workspace_id,
            e,
            d.payload.encode(),
        )
        for d, e in rows
    ]
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_([c.delivery_id for c in claimed]))
        .values(claimed_until=now + lease, attempts=Delivery.attempts + 1),
        execution_options={"synchronize_session": False},
    )
    session.expunge_all()
    return claimed


def next_attempt(attempt: int, now: dt.datetime) -> dt.datetime | None:
    """When to try again after failed attempt number ``attempt``; None: it was the last."""
    if attempt >= MAX_ATTEMPTS:
        return None
    delay = RETRY_DELAYS[attempt - 1].total_seconds()
    return now + dt.timedelta(seconds=delay * random.uniform(1 - JITTER, 1 + JITTER))


@dataclass(frozen=True)
class Result:
    claimed: Claimed
    started_at: dt.datetime
    response: Response


@dataclass(frozen=True)
class Disabled:
    endpoint_id: int
    workspace_id: int
    url: str
    failing_since: dt.datetime


def _excerpt(response: Response) -> str:
    return response.body[: EXCERPT_CHARS * 4].decode("utf-8", "replace")[:EXCERPT_CHARS]


def record_results(session: Session, results: Sequence[Result], now: dt.datetime) -> list[Disabled]:
    """Log every attempt, settle or reschedule each delivery, keep each endpoint's failure
    streak; returns the endpoints this disabled (failing for 3 days). In db.write()."""
    if not results:
        return []
    session.execute(
        insert(DeliveryAttempt),
        [
            {
                "delivery_id": r.claimed.delivery_id,
                "workspace_id": r.claimed.workspace_id,
                "attempt": r.claimed.attempt,
                "started_at": r.started_at,
                "status": r.response.status,
                "latency_ms": r.response.latency_ms,
                "response_excerpt": _excerpt(r.response),
                "error": (r.response.error or _status_error(r.response))[:500] or None,
            }
            for r in results
        ],
    )
    succeeded: set[int] = set()
    failed: dict[int, dt.datetime] = {}
    changes: list[dict[str, object]] = []
    for r in results:
        change: dict[str, object] = {
            "b_id": r.claimed.delivery_id,
            "b_status": r.response.status,
            "b_error": (r.response.error or _status_error(r.response))[:500] or None,
            "b_state": "pending",
            "b_next": now,
            "b_finished": None,
        }
        endpoint_id = r.claimed.endpoint.id
        if r.response.ok:
            change |= {"b_state": "delivered", "b_finished": now}
            succeeded.add(endpoint_id)
        else:
            retry_at = next_attempt(r.claimed.in_round, now)
            if retry_at is None:
                change |= {"b_state": "dead", "b_finished": now}
            else:
                change["b_next"] = retry_at
            failed.setdefault(endpoint_id, r.started_at)
        changes.append(change)
    # One executemany for the batch, not a statement per row.
    session.connection().execute(
        update(Delivery)
        .where(Delivery.id == bindparam("b_id"))
        .values(
            claimed_until=None,
            last_status=bindparam("b_status"),
            last_error=bindparam("b_error"),
            state=bindparam("b_state"),
            next_attempt_at=bindparam("b_next"),
            finished_at=bindparam("b_finished"),
        ),
        changes,
    )
    if succeeded:
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id.in_(succeeded))
            .values(failing_since=None)
        )
    return _streaks(session, {k: v for k, v in failed.items() if k not in succeeded}, now)


def _status_error(response: Response) -> str:
    if response.status is None or response.ok:
        return ""
    return f"the receiver answered HTTP {response.status}"


def _streaks(session: Session, failed: dict[int, dt.datetime], now: dt.datetime) -> list[Disabled]:
    if not failed:
        return []
    disabled = []
    endpoints = session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.id.in_(failed)))
    for endpoint in endpoints:
        if endpoint.failing_since is None:
            endpoint.failing_since = failed[endpoint.id]
        elif endpoint.enabled and now - endpoint.failing_since >= DISABLE_AFTER:
            endpoint.enabled = False
            endpoint.disabled_reason = (
                f"Disabled automatically on {now:%Y-%m-%d %H:%M} UTC: every delivery failed "
                f"since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC."
            )
            endpoint.updated_at = now
            disabled.append(
                Disabled(endpoint.id, endpoint.workspace_id, endpoint.url, endpoint.failing_since)
            )
    return disabled
