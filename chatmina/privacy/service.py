"""The audit log: every change to accounts, roles, keys and settings is recorded."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from chatmina import clock
from chatmina.privacy.models import AuditEvent
from chatmina.storage.db import Database


def record(
    db: Database,
    action: str,
    *,
    workspace_id: int | None = None,
    actor_id: int | None = None,
    detail: str = "",
    ip: str = "",
) -> None:
    with db.write() as s:
        s.add(
            AuditEvent(
                workspace_id=workspace_id,
                actor_id=actor_id,
                action=action,
                detail=detail[:2000],
                ip=ip[:45],
                created_at=clock.now(),
            )
        )


def recent(db: Database, workspace_id: int, limit: int = 50) -> Sequence[AuditEvent]:
    with db.read() as s:
        return s.scalars(
            select(AuditEvent)
            .where(AuditEvent.workspace_id == workspace_id)
            .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
            .limit(limit)
        ).all()
