"""What the inbox shows: conversation lists (by state, assignee, text), counts, and one
conversation's full transcript with its visitor. Reads only; changes are in routing.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from chatmina.accounts.models import Membership, User
from chatmina.conversations.models import Conversation, Message, Visitor
from chatmina.conversations.service import WIDGET, user_names
from chatmina.errors import NotFound, UserError
from chatmina.knowledge.markdown import render
from chatmina.storage.db import Database

VIEWS = {
    "open": ("Open", ("waiting", "assigned", "bot")),
    "waiting": ("Waiting", ("waiting",)),
    "assigned": ("Assigned", ("assigned",)),
    "bot": ("With the assistant", ("bot",)),
    "resolved": ("Resolved", ("resolved",)),
    "all": ("All", ("bot", "waiting", "assigned", "resolved")),
}
STATE_LABELS = {
    "bot": "Assistant",
    "waiting": "Waiting",
    "assigned": "Assigned",
    "resolved": "Resolved",
}
LIST_LIMIT = 100
MAX_QUERY = 200


@dataclass(frozen=True)
class Row:
    id: int
    state: str
    assignee_id: int | None
    assignee_name: str | None
    visitor_name: str
    visitor_email: str
    verified: bool
    preview: str
    unread: int
    last_message_at: dt.datetime | None
    rating: int | None

    @property
    def state_label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)

    @property
    def who(self) -> str:
        return self.visitor_name or self.visitor_email or f"Visitor #{self.id}"


@dataclass(frozen=True)
class Entry:
    """One transcript entry as agents see it (notes and function calls included)."""

    id: int
    role: str
    content: str
    author_name: str | None
    created_at: dt.datetime
    outcome: str | None = None
    feedback: str | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def html(self) -> Markup:
        return render(self.content)


@dataclass(frozen=True)
class Detail:
    row: Row
    visitor_id: str
    external_user_id: str | None
    locale: str
    first_seen: dt.datetime | None
    page_url: str
    user_agent: str
    rating_comment: str | None
    resolved_at: dt.datetime | None
    entries: list[Entry]

    @property
    def browser(self) -> str:
        return browser_summary(self.user_agent)


# Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
             ("Chrome/", "Chrome"), ("Version/", "Safari"))  # fmt: skip
_SYSTEMS = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"),
            ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"),
            ("Linux", "Linux"))  # fmt: skip


def browser_summary(user_agent: str) -> str:
    """ "Chrome 126 on Windows" from a User-Agent header, for agents to read at a glance."""
    name = next(((n, m) for m, n in _BROWSERS if m in user_agent), None)
    system = next((n for m, n in _SYSTEMS if m in user_agent), "")
    if name is None:
        return user_agent[:80]
    label, marker = name
    version = user_agent.split(marker, 1)[1].split(".", 1)[0].split(" ", 1)[0]
    browser = f"{label} {version}" if version.isdigit() else label
    return f"{browser} on {system}" if system else browser


def as_row(c: Conversation, v: Visitor | None, names: dict[int, str]) -> Row:
    return Row(
        id=c.id,
        state=c.state,
        assignee_id=c.assignee_id,
        assignee_name=names.get(c.assignee_id or 0),
        visitor_name=v.name if v else "",
        visitor_email=v.email if v else "",
        verified=bool(v and v.verified),
        preview=c.preview,
        unread=c.unread,
        last_message_at=c.last_message_at,
        rating=c.rating,
    )


def list_rows(
    db: Database,
    workspace_id: int,
    view: str = "open",
    assignee: str = "",
    query: str = "",
    user_id: int | None = None,
    *,
    limit: int = LIST_LIMIT,
    offset: int = 0,
) -> list[Row]:
    """Widget conversations, latest first. ``assignee``: "me", "none", a user id or ""."""
    if view not in VIEWS:
        raise UserError("Choose one of the lists.", "view")
    if len(query) > MAX_QUERY:
        raise UserError(f"Search for at most {MAX_QUERY} characters.", "q")
    stmt = (
        select(Conversation, Visitor)
        .outerjoin(Visitor, Visitor.id == Conversation.visitor_id)
        .where(
            Conversation.workspace_id == workspace_id,
            Conversation.channel == WIDGET,
            Conversation.state.in_(VIEWS[view][1]),
        )
        .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if assignee == "me" and user_id is not None:
        stmt = stmt.where(Conversation.assignee_id == user_id)
    elif assignee == "none":
        stmt = stmt.where(Conversation.assignee_id.is_(None))
    elif assignee.isdigit() and len(assignee) < 16:
        stmt = stmt.where(Conversation.assignee_id == int(assignee))
    words = " ".join(query.split())
    if words:
        in_messages = select(Message.conversation_id).where(
            Message.workspace_id == workspace_id,
            Message.content.contains(words, autoescape=True),
        )
        stmt = stmt.where(
            or_(
                Conversation.id.in_(in_messages),
                Visitor.name.contains(words, autoescape=True),
                Visitor.email.contains(words, autoescape=True),
            )
        )
    with db.read() as s:
        pairs = s.execute(stmt).all()
        names = user_names(s, {c.assignee_id for c, _ in pairs})
    return [as_row(c, v, names) for c, v in pairs]


def _pair(
    s: Session, workspace_id: int, conversation_id: int
) -> tuple[Conversation, Visitor | None]:
    """A widget conversation of the workspace and its visitor (404 for anything else)."""
    pair = s.execute(
        select(Conversation, Visitor)
        .outerjoin(Visitor, Visitor.id == Conversation.visitor_id)
        .where(
            Conversation.id == conversation_id,
            Conversation.workspace_id == workspace_id,
            Conversation.channel == WIDGET,
        )
    ).first()
    if pair is None:
        raise NotFound("No such conversation.")
    return pair[0], pair[1]


def counts(db: Database, workspace_id: int, user_id: int) -> dict[str, int]:
    """Conversations per state, plus "mine" (assigned to ``user_id``) and "unread"."""
    with db.read() as s:
        rows = s.execute(
            select(Conversation.state, func.count(), func.sum(Conversation.unread))
            .where(Conversation.workspace_id == workspace_id, Conversation.channel == WIDGET)
            .group_by(Conversation.state)
        ).all()
        mine = s.scalar(
            select(func.count()).where(
                Conversation.workspace_id == workspace_id,
                Conversation.channel == WIDGET,
                Conversation.state == "assigned",
                Conversation.assignee_id == user_id,
            )
        )
    found = {state: int(n) for state, n, _ in rows}
    result = {view: sum(found.get(st, 0) for st in states) for view, (_, states) in VIEWS.items()}
    result["mine"] = int(mine or 0)
    result["unread"] = int(sum(int(u or 0) for state, _, u in rows if state != "resolved"))
    return result


def as_entry(m: Message, names: dict[int, str]) -> Entry:
    return Entry(
        id=m.id,
        role=m.role,
        content=m.content,
        author_name=names.get(m.author_id or 0),
        created_at=m.created_at,
        outcome=m.outcome,
        feedback=m.feedback,
        sources=[s for s in m.sources or [] if s.get("cited")],
        tool_calls=list(m.tool_calls or []),
    )


def detail(db: Database, workspace_id: int, conversation_id: int) -> Detail:
    with db.read() as s:
        c, v = _pair(s, workspace_id, conversation_id)
        rows = s.scalars(
            select(Message).where(Message.conversation_id == c.id).order_by(Message.id)
        ).all()
        names = user_names(s, {c.assignee_id, *(m.author_id for m in rows)})
    return Detail(
        row=as_row(c, v, names),
        visitor_id=v.public_id if v else "",
        external_user_id=v.external_user_id if v else None,
        locale=v.locale if v else "",
        first_seen=v.first_seen if v else None,
        page_url=c.page_url,
        user_agent=c.user_agent,
        rating_comment=c.rating_comment,
        resolved_at=c.resolved_at,
        entries=[as_entry(m, names) for m in rows],
    )


def members(db: Database, workspace_id: int) -> list[tuple[int, str]]:
    """Who a conversation can be assigned to."""
    with db.read() as s:
        rows = s.execute(
            select(User.id, User.name)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.workspace_id == workspace_id)
            .order_by(User.name)
        ).all()
    return [(r.id, r.name) for r in rows]


def visitor_of(db: Database, workspace_id: int, conversation_id: int) -> int | None:
    """The visitor row id of a widget conversation (404 for another workspace's)."""
    with db.read() as s:
        c = s.get(Conversation, conversation_id)
    if c is None or c.workspace_id != workspace_id or c.channel != WIDGET:
        raise NotFound("No such conversation.")
    return c.visitor_id
