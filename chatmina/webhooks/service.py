"""Event webhook endpoints of a workspace, and its private-host allowlist.

An endpoint subscribes to event types ("message.created") or families ("conversation.*").
Its signing secret is stored encrypted and shown once, when made or rotated; a rotation
keeps the previous secret signing for 24 hours so receivers can switch without a gap.
"""

from __future__ import annotations

import datetime as dt
import secrets as random
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from chatmina import clock
from chatmina.errors import NotFound, UserError
from chatmina.events import EVENT_TYPES
from chatmina.settings import Settings
from chatmina.storage import crypto
from chatmina.storage.db import Database
from chatmina.storage.keys import Keys
from chatmina.webhooks import signing
from chatmina.webhooks.models import OutboundSettings, WebhookEndpoint

MAX_ENDPOINTS = 50
MAX_PATTERNS = 20


def event_patterns() -> list[str]:
    """What an endpoint may subscribe to: every type, every family ("conversation.*"), "*"."""
    parts = [t.split(".") for t in EVENT_TYPES]
    families = sorted({".".join(p[:n]) + ".*" for p in parts for n in range(1, len(p))})
    return ["*", *families, *EVENT_TYPES]


def matches(patterns: Sequence[str], event_type: str) -> bool:
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def clean_events(events: Sequence[str]) -> list[str]:
    known = set(event_patterns())
    cleaned: list[str] = []
    for raw in events:
        pattern = raw.strip()
        if pattern not in known:
            choices = ", ".join(event_patterns())
            message = f"'{pattern[:60]}' is not an event type. Choose from: {choices}."
            raise UserError(message, "events")
        if pattern not in cleaned:
            cleaned.append(pattern)
    if not cleaned:
        raise UserError("Choose at least one event type.", "events")
    if len(cleaned) > MAX_PATTERNS:
        raise UserError(f"At most {MAX_PATTERNS} event types per endpoint.", "events")
    return cleaned


def _identity(endpoint: WebhookEndpoint, which: str) -> str:
    return f"webhook_endpoints:{endpoint.public_id}:{which}"


def signing_secrets(keys: Keys, endpoint: WebhookEndpoint, now: dt.datetime) -> list[str]:
    """The secrets that sign a request now: the current one, and the previous one while its
    24 hours last."""
    found = [crypto.decrypt(keys.secrets, endpoint.secret_encrypted, _identity(endpoint, "secret"))]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted and signing.previous_still_signs(expires, now):
        identity = _identity(endpoint, "previous_secret")
        found.append(crypto.decrypt(keys.secrets, endpoint.previous_secret_encrypted, identity))
    return found


@dataclass(frozen=True)
class EndpointInput:
    url: str
    events: list[str]
    description: str = ""
    enabled: bool = True


def _checked(db: Database, settings: Settings, workspace_id: int, given: EndpointInput) -> None:
    if not given.url.strip():
        raise UserError("Enter the URL that receives the events.", "url")
    if len(given.description) > 500:
        raise UserError("The description is longer than 500 characters.", "description")
    # Lazily: the checks bring chatmina.net and httpx, which start-up does without.
    from chatmina.webhooks.client import allowed_private_hosts, check_url

    check_url(given.url.strip(), allowed_private_hosts(db, workspace_id, settings))


def create_endpoint(
    db: Database, keys: Keys, settings: Settings, workspace_id: int, given: EndpointInput
) -> tuple[WebhookEndpoint, str]:
    """The new endpoint and its secret (shown once)."""
    events = clean_events(given.events)
    _checked(db, settings, workspace_id, given)
    secret = signing.new_secret()
    now = clock.now()
    endpoint = WebhookEndpoint(
        public_id="we_" + random.token_urlsafe(12),
        workspace_id=workspace_id,
        url=given.url.strip(),
        description=given.description.strip(),
        events=events,
        enabled=given.enabled,
        previous_secret_encrypted=None,
        previous_secret_expires_at=None,
        disabled_reason=None,
        failing_since=None,
        created_at=now,
        updated_at=now,
    )
    endpoint.secret_encrypted = crypto.encrypt(keys.secrets, secret, _identity(endpoint, "secret"))
    with db.write() as s:
        count = len(s.scalars(select(WebhookEndpoint.id).where(
            WebhookEndpoint.workspace_id == workspace_id)).all())  # fmt: skip
        if count >= MAX_ENDPOINTS:
            raise UserError(f"A workspace has at most {MAX_ENDPOINTS} endpoints.", "url")
        s.add(endpoint)
    return endpoint, secret


def list_endpoints(db: Database, workspace_id: int) -> list[WebhookEndpoint]:
    with db.read() as s:
        return list(
            s.scalars(
                select(WebhookEndpoint)
                .where(WebhookEndpoint.workspace_id == workspace_id)
                .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
            )
        )


def _find(s: Session, workspace_id: int, public_id: str) -> WebhookEndpoint:
    endpoint = s.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.workspace_id == workspace_id,
            WebhookEndpoint.public_id == public_id,
        )
    )
    if endpoint is None:
        raise NotFound("No such webhook endpoint in this workspace.")
    return endpoint


def get_endpoint(db: Database, workspace_id: int, public_id: str) -> WebhookEndpoint:
    with db.read() as s:
        return _find(s, workspace_id, public_id)


def update_endpoint(
    db: Database, settings: Settings, workspace_id: int, public_id: str, given: EndpointInput
) -> WebhookEndpoint:
    events = clean_events(given.events)
    _checked(db, settings, workspace_id, given)
    with db.write() as s:
        endpoint = _find(s, workspace_id, public_id)
        endpoint.url = given.url.strip()
        endpoint.events = events
        endpoint.description = given.description.strip()
        if given.enabled and not endpoint.enabled:
            # Switched back on by a person: the failure streak starts over.
            endpoint.disabled_reason = None
            endpoint.failing_since = None
        endpoint.enabled = given.enabled
        endpoint.updated_at = clock.now()
    return endpoint


def delete_endpoint(db: Database, workspace_id: int, public_id: str) -> WebhookEndpoint:
    endpoint = get_endpoint(db, workspace_id, public_id)
    with db.write() as s:
        s.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id))
    return endpoint


def rotate_secret(
    db: Database, keys: Keys, workspace_id: int, public_id: str
) -> tuple[WebhookEndpoint, str]:
    """A new secret (shown once); the current one keeps signing for 24 hours."""
    secret = signing.new_secret()
    with db.write() as s:
        endpoint = _find(s, workspace_id, public_id)
        now = clock.now()
        current = crypto.decrypt(
            keys.secrets, endpoint.secret_encrypted, _identity(endpoint, "secret")
        )
        endpoint.previous_secret_encrypted = crypto.encrypt(
            keys.secrets, current, _identity(endpoint, "previous_secret")
        )
        endpoint.previous_secret_expires_at = now + signing.ROTATION_OVERLAP
        endpoint.secret_encrypted = crypto.encrypt(
            keys.secrets, secret, _identity(endpoint, "secret")
        )
        endpoint.updated_at = now
    return endpoint, secret


# -- the private-host allowlist ------------------------------------------------------------


def private_hosts(db: Database, workspace_id: int) -> str:
    with db.read() as s:
        found = s.scalar(
            select(OutboundSettings.allowed_private_hosts).where(
                OutboundSettings.workspace_id == workspace_id
            )
        )
    return found or ""


def save_private_hosts(db: Database, workspace_id: int, text: str) -> str:
    """Store the workspace's entries, one per line; raises UserError naming a bad entry."""
    from chatmina.net import Allowlist

    if len(text) > 5000:
        raise UserError("The list is longer than 5,000 characters.", "allowed_private_hosts")
    try:
        entries = sorted(Allowlist.parse(text).entries)
    except ValueError as error:
        raise UserError(str(error), "allowed_private_hosts") from None
    stored = "\n".join(entries)
    with db.write() as s:
        row = s.get(OutboundSettings, workspace_id)
        if row is None:
            s.add(OutboundSettings(workspace_id=workspace_id, allowed_private_hosts=stored,
                                   updated_at=clock.now()))  # fmt: skip
        else:
            row.allowed_private_hosts = stored
            row.updated_at = clock.now()
    from chatmina.webhooks.client import allowlist_changed

    allowlist_changed(db, workspace_id)
    return stored
