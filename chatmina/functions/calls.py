"""The call log: every attempt to call a function, with what was sent and what came back.

Arguments and the response excerpt are encrypted (they hold what visitors said and what
the business's systems answered about them), so text search decrypts the most recent
entries in memory instead of asking SQL.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select

from chatmina.errors import UserError
from chatmina.functions.models import FunctionCall
from chatmina.storage import crypto
from chatmina.storage.db import Database
from chatmina.storage.keys import Keys

EXCERPT_CHARS = 2000
SEARCH_WINDOW = 5000  # the most recent calls a text search looks through
PAGE_SIZE = 100


def arguments_identity(message_id: str, attempt: int) -> str:
    return f"function_calls:{message_id}:{attempt}:arguments"


def response_identity(message_id: str, attempt: int) -> str:
    return f"function_calls:{message_id}:{attempt}:response"


@dataclass(frozen=True)
class CallRecord:
    workspace_id: int
    function_id: int
    conversation_id: int | None
    message_id: str
    call_id: str
    attempt: int
    is_test: bool
    ok: bool
    status_code: int | None
    latency_ms: float
    error: str
    arguments: Any  # a dict; the raw text when the model's were not JSON (never sent)
    response: str  # the start of the response body, as text
    created_at: dt.datetime


def record(db: Database, keys: Keys, records: Sequence[CallRecord]) -> None:
    rows = [
        {
            "workspace_id": r.workspace_id,
            "function_id": r.function_id,
            "conversation_id": r.conversation_id,
            "message_id": r.message_id,
            "call_id": r.call_id[:200],
            "attempt": r.attempt,
            "is_test": r.is_test,
            "ok": r.ok,
            "status_code": r.status_code,
            "latency_ms": round(r.latency_ms, 2),
            "error": r.error[:500],
            "arguments_encrypted": crypto.encrypt(
                keys.secrets, json.dumps(r.arguments), arguments_identity(r.message_id, r.attempt)
            ),
            "response_encrypted": crypto.encrypt(
                keys.secrets, r.response[:EXCERPT_CHARS], response_identity(r.message_id, r.attempt)
            ),
            "created_at": r.created_at,
        }
        for r in records
    ]
    if rows:
        with db.write() as s:
            s.execute(insert(FunctionCall), rows)


@dataclass(frozen=True)
class CallView:
    id: int
    created_at: dt.datetime
    conversation_id: int | None
    message_id: str
    attempt: int
    is_test: bool
    ok: bool
    status_code: int | None
    latency_ms: float
    error: str
    arguments: str  # JSON text
    response: str


@dataclass(frozen=True)
class CallFilter:
    outcome: str = ""  # "", "ok" or "failed"
    status: str = ""  # an HTTP status code, or "none" (no response)
    since: dt.date | None = None
    until: dt.date | None = None  # inclusive
    q: str = ""


def parse_filter(outcome: str, status: str, since: str, until: str, q: str) -> CallFilter:
    if outcome not in ("", "ok", "failed"):
        raise UserError("Choose all, succeeded or failed.", "outcome")
    status = status.strip().lower()
    if status and status != "none" and not (status.isdigit() and 100 <= int(status) <= 599):
        raise UserError("A status is an HTTP status code (100 to 599) or 'none'.", "status")

    def day(raw: str, field: str) -> dt.date | None:
        if not raw.strip():
            return None
        try:
            return dt.date.fromisoformat(raw.strip())
        except ValueError:
            raise UserError("Enter a date as YYYY-MM-DD.", field) from None

    first, last = day(since, "since"), day(until, "until")
    if first and last and first > last:
        raise UserError("The start date is after the end date.", "since")
    return CallFilter(outcome, status, first, last, q.strip()[:200])


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def list_calls(
    db: Database,
    keys: Keys,
    workspace_id: int,
    function_id: int,
    wanted: CallFilter,
    limit: int = PAGE_SIZE,
) -> list[CallView]:
    """The newest matching calls of one function (at most ``limit``)."""
    query = select(FunctionCall).where(
        FunctionCall.workspace_id == workspace_id, FunctionCall.function_id == function_id
    )
    if wanted.outcome:
        query = query.where(FunctionCall.ok.is_(wanted.outcome == "ok"))
    if wanted.status == "none":
        query = query.where(FunctionCall.status_code.is_(None))
    elif wanted.status:
        query = query.where(FunctionCall.status_code == int(wanted.status))
    if wanted.since:
        query = query.where(FunctionCall.created_at >= _start_of(wanted.since))
    if wanted.until:
        query = query.where(
            FunctionCall.created_at < _start_of(wanted.until + dt.timedelta(days=1))
        )
    query = query.order_by(FunctionCall.created_at.desc(), FunctionCall.id.desc())
    with db.read() as s:
        rows = s.scalars(query.limit(SEARCH_WINDOW if wanted.q else limit)).all()
    needle = wanted.q.lower()
    found: list[CallView] = []
    for row in rows:
        view = _view(keys, row)
        if needle and not any(
            needle in text.lower() for text in (view.arguments, view.response, view.error)
        ):
            continue
        found.append(view)
        if len(found) >= limit:
            break
    return found


def _view(keys: Keys, row: FunctionCall) -> CallView:
    return CallView(
        id=row.id,
        created_at=row.created_at,
        conversation_id=row.conversation_id,
        message_id=row.message_id,
        attempt=row.attempt,
        is_test=row.is_test,
        ok=row.ok,
        status_code=row.status_code,
        latency_ms=row.latency_ms,
        error=row.error,
        arguments=crypto.decrypt(
            keys.secrets, row.arguments_encrypted, arguments_identity(row.message_id, row.attempt)
        ),
        response=crypto.decrypt(
            keys.secrets, row.response_encrypted, response_identity(row.message_id, row.attempt)
        ),
    )
