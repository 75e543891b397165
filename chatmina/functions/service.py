"""A workspace's AI Functions: definitions, signing secrets, and what the dispatcher needs.

Each function has a ``whsec_`` signing secret shown once (on create and on rotation).
Rotating keeps the previous secret signing for 24 hours, so the business can switch its
receiver over without failed calls. Secrets and header values are stored encrypted, bound
to the function's row.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from chatmina import clock
from chatmina.errors import Conflict, NotFound
from chatmina.functions import cache
from chatmina.functions.models import AiFunction
from chatmina.functions.validation import Definition
from chatmina.storage import crypto
from chatmina.storage.db import Database
from chatmina.storage.keys import Keys
from chatmina.webhooks.signing import ROTATION_OVERLAP, new_secret, previous_still_signs


def secret_identity(function_id: int) -> str:
    return f"ai_functions:{function_id}:secret"


def previous_secret_identity(function_id: int) -> str:
    return f"ai_functions:{function_id}:previous_secret"


def headers_identity(function_id: int) -> str:
    return f"ai_functions:{function_id}:headers"


@dataclass(frozen=True)
class FunctionView:
    """A function as shown to admins: header values masked, no secret."""

    id: int
    name: str
    description: str
    parameters: dict[str, Any]
    url: str
    method: str
    timeout_seconds: int
    enabled: bool
    only_verified: bool
    headers: dict[str, str]  # name -> masked value
    secret_rotated_at: dt.datetime
    previous_secret_expires_at: dt.datetime | None  # set while the old secret still signs
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class FunctionSpec:
    """Everything a call needs, decrypted once and kept in the dispatcher's memory."""

    id: int
    workspace_id: int
    workspace_public_id: str
    name: str
    description: str
    parameters: dict[str, Any]
    url: str
    method: str
    timeout_seconds: int
    enabled: bool
    only_verified: bool
    headers: dict[str, str]
    secret: str
    previous_secret: str
    previous_secret_expires_at: dt.datetime | None

    def signing_secrets(self, now: dt.datetime) -> list[str]:
        """The current secret, then the previous one while it is still valid."""
        found = [self.secret]
        if self.previous_secret and previous_still_signs(self.previous_secret_expires_at, now):
            found.append(self.previous_secret)
        return found


def _headers(keys: Keys, row: AiFunction) -> dict[str, str]:
    if not row.headers_encrypted:
        return {}
    plain = crypto.decrypt(keys.secrets, row.headers_encrypted, headers_identity(row.id))
    headers: dict[str, str] = json.loads(plain)
    return headers


def _set_headers(keys: Keys, row: AiFunction, headers: dict[str, str]) -> None:
    row.headers_encrypted = (
        crypto.encrypt(keys.secrets, json.dumps(headers), headers_identity(row.id))
        if headers
        else ""
    )


def _view(keys: Keys, row: AiFunction) -> FunctionView:
    expires = row.previous_secret_expires_at
    if not previous_still_signs(expires, clock.now()):
        expires = None
    return FunctionView(
        id=row.id,
        name=row.name,
        description=row.description,
        parameters=row.parameters,
        url=row.url,
        method=row.method,
        timeout_seconds=row.timeout_seconds,
        enabled=row.enabled,
        only_verified=row.only_verified,
        headers={k: crypto.mask(v) for k, v in _headers(keys, row).items()},
        secret_rotated_at=row.secret_rotated_at,
        previous_secret_expires_at=expires,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _get(s: Any, workspace_id: int, function_id: int) -> AiFunction:
    row = s.scalar(
        select(AiFunction).where(
            AiFunction.workspace_id == workspace_id, AiFunction.id == function_id
        )
    )
    if row is None:
        raise NotFound("No such function.")
    assert isinstance(row, AiFunction)
    return row


def _name_taken(s: Any, workspace_id: int, name: str, except_id: int | None = None) -> None:
    query = select(AiFunction.id).where(
        AiFunction.workspace_id == workspace_id, AiFunction.name == name
    )
    if except_id is not None:
        query = query.where(AiFunction.id != except_id)
    if s.scalar(query) is not None:
        raise Conflict(f"This workspace already has a function named {name}.", "name")


def _apply(row: AiFunction, data: Definition) -> None:
    row.name = data.name
    row.description = data.description
    row.parameters = data.parameters
    row.url = data.url
    row.method = data.method
    row.timeout_seconds = data.timeout_seconds
    row.enabled = data.enabled
    row.only_verified = data.only_verified


def create_function(
    db: Database, keys: Keys, workspace_id: int, data: Definition
) -> tuple[FunctionView, str]:
    """The new function and its signing secret (the only time it is shown)."""
    secret = new_secret()
    now = clock.now()
    with db.write() as s:
        _name_taken(s, workspace_id, data.name)
        row = AiFunction(
            workspace_id=workspace_id,
            headers_encrypted="",
            secret_encrypted="",
            previous_secret_encrypted="",
            secret_rotated_at=now,
            created_at=now,
            updated_at=now,
        )
        _apply(row, data)
        s.add(row)
        s.flush()  # the row's id is part of what its secrets are bound to
        row.secret_encrypted = crypto.encrypt(keys.secrets, secret, secret_identity(row.id))
        _set_headers(keys, row, data.headers or {})
        view = _view(keys, row)
    cache.changed(str(db.path), workspace_id)
    return view, secret


def update_function(
    db: Database, keys: Keys, workspace_id: int, function_id: int, data: Definition
) -> FunctionView:
    with db.write() as s:
        row = _get(s, workspace_id, function_id)
        _name_taken(s, workspace_id, data.name, except_id=row.id)
        _apply(row, data)
        if data.headers is not None:
            _set_headers(keys, row, data.headers)
        row.updated_at = clock.now()
        view = _view(keys, row)
    cache.changed(str(db.path), workspace_id)
    return view


def set_enabled(db: Database, keys: Keys, workspace_id: int, function_id: int, on: bool) -> str:
    with db.write() as s:
        row = _get(s, workspace_id, function_id)
        row.enabled = on
        row.updated_at = clock.now()
        name = row.name
    cache.changed(str(db.path), workspace_id)
    return name


def delete_function(db: Database, workspace_id: int, function_id: int) -> str:
    """Delete the function and its call log. Returns its name."""
    with db.write() as s:
        row = _get(s, workspace_id, function_id)
        name = row.name
        s.execute(
            delete(AiFunction).where(
                AiFunction.workspace_id == workspace_id, AiFunction.id == function_id
            )
        )
    cache.changed(str(db.path), workspace_id)
    return name


def rotate_secret(
    db: Database, keys: Keys, workspace_id: int, function_id: int
) -> tuple[FunctionView, str]:
    """A new secret; the current one keeps signing for 24 hours (an older one stops)."""
    secret = new_secret()
    now = clock.now()
    with db.write() as s:
        row = _get(s, workspace_id, function_id)
        current = crypto.decrypt(keys.secrets, row.secret_encrypted, secret_identity(row.id))
        row.previous_secret_encrypted = crypto.encrypt(
            keys.secrets, current, previous_secret_identity(row.id)
        )
        row.previous_secret_expires_at = now + ROTATION_OVERLAP
        row.secret_encrypted = crypto.encrypt(keys.secrets, secret, secret_identity(row.id))
        row.secret_rotated_at = now
        row.updated_at = now
        view = _view(keys, row)
    cache.changed(str(db.path), workspace_id)
    return view, secret


def get_function(db: Database, keys: Keys, workspace_id: int, function_id: int) -> FunctionView:
    with db.read() as s:
        return _view(keys, _get(s, workspace_id, function_id))


def list_functions(db: Database, keys: Keys, workspace_id: int) -> list[FunctionView]:
    with db.read() as s:
        rows = s.scalars(
            select(AiFunction)
            .where(AiFunction.workspace_id == workspace_id)
            .order_by(AiFunction.name)
        ).all()
        return [_view(keys, r) for r in rows]


def load_specs(db: Database, keys: Keys, workspace_id: int) -> dict[str, FunctionSpec]:
    """Every function of the workspace by name, secrets decrypted, for the dispatcher."""
    from chatmina.accounts.models import Workspace

    with db.read() as s:
        workspace = s.get(Workspace, workspace_id)
        if workspace is None:
            return {}
        rows = s.scalars(select(AiFunction).where(AiFunction.workspace_id == workspace_id)).all()
        specs = {}
        for row in rows:
            previous = (
                crypto.decrypt(
                    keys.secrets, row.previous_secret_encrypted, previous_secret_identity(row.id)
                )
                if row.previous_secret_encrypted
                else ""
            )
            specs[row.name] = FunctionSpec(
                id=row.id,
                workspace_id=workspace_id,
                workspace_public_id=workspace.public_id,
                name=row.name,
                description=row.description,
                parameters=row.parameters,
                url=row.url,
                method=row.method,
                timeout_seconds=row.timeout_seconds,
                enabled=row.enabled,
                only_verified=row.only_verified,
                headers=_headers(keys, row),
                secret=crypto.decrypt(keys.secrets, row.secret_encrypted, secret_identity(row.id)),
                previous_secret=previous,
                previous_secret_expires_at=row.previous_secret_expires_at,
            )
        return specs
