"""Scheduled work of AI Functions: the call log keeps 30 days.

Call logs hold what visitors asked for and what the business's systems answered about
them; past a month they serve no debugging purpose, so they are deleted, not kept.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select

from chatmina import clock
from chatmina.functions.models import FunctionCall
from chatmina.storage.db import Database

CALL_LOG_DAYS = 30
BATCH = 5000  # rows per write transaction, so answers never wait long for the writer


def purge_call_log(db: Database) -> int:
    """Delete calls older than CALL_LOG_DAYS; returns how many went."""
    cutoff = clock.now() - dt.timedelta(days=CALL_LOG_DAYS)
    removed = 0
    while True:
        with db.write() as s:
            old = select(FunctionCall.id).where(FunctionCall.created_at < cutoff).limit(BATCH)
            result = s.execute(delete(FunctionCall).where(FunctionCall.id.in_(old)))
        count = int(result.rowcount)  # type: ignore[attr-defined]
        removed += count
        if count < BATCH:
            return removed
