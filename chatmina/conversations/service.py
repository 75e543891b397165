"""Conversations and their transcripts.

A visitor's question is stored before anything is asked of the model, so a failing or
slow provider never loses it; the answer is stored when it is complete (or has failed).
Widget conversations also emit their events (chatmina.events) in the transaction that
stores them; routing.py has the handoff and the agents' side, inbox.py the lists.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from chatmina import clock
from chatmina.accounts.models import User
from chatmina.conversations.models import Conversation, Message, Visitor
from chatmina.errors import NotFound, UserError
from chatmina.events import Event
from chatmina.storage.db import Database

HISTORY_MESSAGES = 12  # the latest visitor and assistant messages given to the model
MAX_MESSAGE_CHARS = 2000
PREVIEW_CHARS = 200
WIDGET = "widget"


@dataclass(frozen=True)
class Turn:
    """One message of the history the model sees: role is "user" or "assistant"."""

    role: str
    content: str


@dataclass
class AnswerRecord:
    """What the answer engine stores for an assistant message."""

    content: str
    outcome: str
    model: str | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None


def get(db: Database, workspace_id: int, conversation_id: int) -> Conversation:
    with db.read() as s:
        row = s.get(Conversation, conversation_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound("No such conversation.")
    return row


# -- what the outside sees -------------------------------------------------------------


def public_message(message: Message, author_name: str | None = None) -> dict[str, Any]:
    """A message as the widget (and the event webhooks) see it: cited sources only."""
    sources = [
        {"n": s.get("n"), "title": s.get("title"), "url": s.get("url"), "heading": s.get("heading")}
        for s in message.sources or []
        if s.get("cited")
    ]
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "role": message.role,
        "content": message.content,
        "created_at": message.created_at.isoformat().replace("+00:00", "Z"),
        "author_name": author_name,
        "sources": sources,
        "feedback": message.feedback,
        "outcome": message.outcome,
        "client_id": message.client_id,
    }


def public_conversation(conversation: Conversation, assignee_name: str | None) -> dict[str, Any]:
    resolved = conversation.resolved_at
    return {
        "id": conversation.id,
        "state": conversation.state,
        "assignee_name": assignee_name,
        "rating": conversation.rating,
        "resolved_at": resolved.isoformat().replace("+00:00", "Z") if resolved else None,
    }


def user_names(s: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = s.execute(select(User.id, User.name).where(User.id.in_(wanted))).all()
    return {r.id: r.name for r in rows}


def emit(db: Database, s: Session, type_: str, workspace_id: int, data: dict[str, Any]) -> None:
    """Record an event in the write transaction ``s`` of ``db``."""
    db.events.emit(s, Event(type_, workspace_id, data, clock.now()))


def event_message(message: Message, visitor_id: str | None) -> dict[str, Any]:
    data = public_message(message)
    data.pop("client_id")
    data["visitor_id"] = visitor_id
    data["author_id"] = message.author_id  # the agent's user id, for agent replies
    return data


# -- the engine's side (every channel) ---------------------------------------------------


def add_question(
    db: Database,
    workspace_id: int,
    conversation_id: int | None,
    channel: str,
    question: str,
    started_by_id: int | None = None,
) -> tuple[int, int]:
    """Store a visitor's question, starting a conversation when none is given.

    Returns (conversation id, message id). One transaction: both rows or neither.
    """
    now = clock.now()
    with db.write() as s:
        if conversation_id is None:
            conversation = Conversation(
                workspace_id=workspace_id,
                channel=channel,
                state="bot",
                started_by_id=started_by_id,
                created_at=now,
                updated_at=now,
            )
            s.add(conversation)
            s.flush()
            conversation_id = conversation.id
        else:
            found = s.execute(
                update(Conversation)
                .where(
                    Conversation.id == conversation_id, Conversation.workspace_id == workspace_id
                )
                .values(updated_at=now)
            )
            if not found.rowcount:  # type: ignore[attr-defined]
                raise NotFound("No such conversation.")
        message = Message(
            conversation_id=conversation_id,
            workspace_id=workspace_id,
            role="visitor",
            content=question,
            created_at=now,
        )
        s.add(message)
        s.flush()
        return conversation_id, message.id


def add_answer(db: Database, workspace_id: int, conversation_id: int, answer: AnswerRecord) -> int:
    now = clock.now()
    with db.write() as s:
        message = Message(
            conversation_id=conversation_id,
            workspace_id=workspace_id,
            role="assistant",
            content=answer.content,
            outcome=answer.outcome,
            model=answer.model,
            sources=answer.sources,
            tool_calls=answer.tool_calls or None,
            usage=answer.usage or None,
            timings=answer.timings or None,
            error=answer.error[:500] if answer.error else None,
            created_at=now,
        )
        s.add(message)
        s.flush()
        conversation = s.get(Conversation, conversation_id)
        assert conversation is not None
        conversation.updated_at = now
        if conversation.channel == WIDGET:
            conversation.last_message_at = now
            conversation.preview = preview_text(answer.content)
            emit(
                db,
                s,
                "message.created",
                workspace_id,
                event_message(message, _visitor_id(s, conversation)),
            )
        return message.id


def history(
    db: Database, workspace_id: int, conversation_id: int, before_id: int | None = None
) -> list[Turn]:
    """The latest visitor and assistant messages, oldest first, for the model's context."""
    query = (
        select(Message.role, Message.content)
        .where(
            Message.conversation_id == conversation_id,
            Message.workspace_id == workspace_id,
            Message.role.in_(("visitor", "assistant", "agent")),
        )
        .order_by(Message.id.desc())
        .limit(HISTORY_MESSAGES)
    )
    if before_id is not None:
        query = query.where(Message.id < before_id)
    with db.read() as s:
        rows = s.execute(query).all()
    return [Turn("user" if r.role == "visitor" else "assistant", r.content) for r in reversed(rows)]


def last_answer_id(db: Database, workspace_id: int, conversation_id: int) -> int | None:
    """The latest assistant message with any text, if there is one."""
    with db.read() as s:
        return s.scalar(
            select(Message.id)
            .where(
                Message.workspace_id == workspace_id,
                Message.conversation_id == conversation_id,
                Message.role == "assistant",
                Message.content != "",
            )
            .order_by(Message.id.desc())
            .limit(1)
        )


def messages(db: Database, workspace_id: int, conversation_id: int) -> Sequence[Message]:
    with db.read() as s:
        return s.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.workspace_id == workspace_id)
            .order_by(Message.id)
        ).all()


_PLAIN = (
    (re.compile(r"\s*\[\d+\]"), ""),  # citations
    (re.compile(r"(?m)^\s{0,3}(?:#{1,6}|>|[-*+]|\d+[.)])\s+"), ""),  # headings, quotes, lists
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),  # bold
    (re.compile(r"(?<!\w)([*_])(?!\s)(.+?)(?<!\s)\1(?!\w)"), r"\2"),  # italics
    (re.compile(r"`+"), ""),
    (re.compile(r"\[([^\]]*)\]\([^)]*\)"), r"\1"),  # links: their text
)


def preview_text(text: str) -> str:
    """The message as one short line of plain text for the inbox list."""
    plain = text
    for pattern, replacement in _PLAIN:
        plain = pattern.sub(replacement, plain)
    return " ".join(plain.split())[:PREVIEW_CHARS]


def _visitor_id(s: Session, conversation: Conversation) -> str | None:
    if conversation.visitor_id is None:
        return None
    return s.scalar(select(Visitor.public_id).where(Visitor.id == conversation.visitor_id))


# -- the visitor's side (widget) ---------------------------------------------------------


@dataclass
class Posted:
    """A visitor message as stored (or found again, for a repeated client id)."""

    message: dict[str, Any]
    conversation: dict[str, Any]
    conversation_id: int
    message_id: int
    state: str
    created: bool  # False: the client id was seen before, nothing was stored
    new_conversation: bool
    # The rows as committed, so live updates need not read them again.
    rows: tuple[Message, Conversation] | None = None
    assignee_name: str | None = None


def clean_content(raw: str) -> str:
    content = raw.strip()
    if not content:
        raise UserError("Type a message.", "content")
    if len(content) > MAX_MESSAGE_CHARS:
        raise UserError(
            f"A message is limited to {MAX_MESSAGE_CHARS:,} characters "
            f"(this one has {len(content):,}).",
            "content",
        )
    return content


def clean_client_id(raw: str) -> str:
    value = raw.strip()
    if not value or len(value) > 64 or not all(c.isalnum() or c in "-_" for c in value):
        raise UserError("client_id must be 1 to 64 letters, digits, - or _ (a UUID).", "client_id")
    return value


def latest(s: Session, visitor: Visitor) -> Conversation | None:
    return s.scalar(
        select(Conversation)
        .where(
            Conversation.visitor_id == visitor.id, Conversation.workspace_id == visitor.workspace_id
        )
        .order_by(Conversation.id.desc())
        .limit(1)
    )


def start_conversation(
    db: Database, s: Session, visitor: Visitor, state: str, page_url: str, user_agent: str
) -> Conversation:
    now = clock.now()
    conversation = Conversation(
        workspace_id=visitor.workspace_id,
        channel=WIDGET,
        state=state,
        visitor_id=visitor.id,
        page_url=page_url[:2000],
        user_agent=user_agent[:300],
        created_at=now,
        updated_at=now,
        last_message_at=now,
        unread=0,
        preview="",
    )
    s.add(conversation)
    s.flush()
    emit(
        db,
        s,
        "conversation.created",
        visitor.workspace_id,
        {
            "conversation_id": conversation.id,
            "visitor_id": visitor.public_id,
            "state": state,
            "page_url": conversation.page_url,
            "verified": visitor.verified,
            "email": visitor.email if visitor.verified else None,
        },
    )
    return conversation


def current_state(db: Database, visitor: Visitor) -> tuple[int, str] | None:
    """The id and state of the visitor's latest conversation, if any."""
    with db.read() as s:
        found = s.execute(
            select(Conversation.id, Conversation.state)
            .where(Conversation.visitor_id == visitor.id)
            .order_by(Conversation.id.desc())
            .limit(1)
        ).first()
    return (found.id, found.state) if found else None


def current(db: Database, visitor: Visitor) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The visitor's latest conversation and its messages, without internal notes."""
    with db.read() as s:
        conversation = latest(s, visitor)
        if conversation is None:
            return None, []
        rows = s.scalars(
            select(Message)
            .where(Message.conversation_id == conversation.id, Message.role != "note")
            .order_by(Message.id)
        ).all()
        names = user_names(s, {conversation.assignee_id, *(m.author_id for m in rows)})
        return (
            public_conversation(conversation, names.get(conversation.assignee_id or 0)),
            [public_message(m, names.get(m.author_id or 0)) for m in rows],
        )


def post_visitor_message(
    db: Database,
    visitor: Visitor,
    content: str,
    client_id: str,
    page_url: str = "",
    user_agent: str = "",
) -> Posted:
    content = clean_content(content)
    client_id = clean_client_id(client_id)
    now = clock.now()
    with db.write() as s:
        seen = s.scalar(
            select(Message)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.visitor_id == visitor.id, Message.client_id == client_id)
        )
        if seen is not None:
            conversation = s.get(Conversation, seen.conversation_id)
            assert conversation is not None
            names = user_names(s, {conversation.assignee_id})
            return Posted(
                public_message(seen),
                public_conversation(conversation, names.get(conversation.assignee_id or 0)),
                conversation.id,
                seen.id,
                conversation.state,
                created=False,
                new_conversation=False,
            )
        conversation = latest(s, visitor)
        new = conversation is None or conversation.state == "resolved"
        if conversation is None or new:
            conversation = start_conversation(db, s, visitor, "bot", page_url, user_agent)
        message = Message(
            conversation_id=conversation.id,
            workspace_id=visitor.workspace_id,
            role="visitor",
            content=content,
            client_id=client_id,
            created_at=now,
        )
        s.add(message)
        s.flush()
        conversation.updated_at = now
        conversation.last_message_at = now
        conversation.preview = preview_text(content)
        conversation.unread += 1
        if page_url:
            conversation.page_url = page_url[:2000]
        s.execute(update(Visitor).where(Visitor.id == visitor.id).values(last_seen=now))
        emit(
            db,
            s,
            "message.created",
            visitor.workspace_id,
            event_message(message, visitor.public_id),
        )
        names = user_names(s, {conversation.assignee_id})
        return Posted(
            public_message(message),
            public_conversation(conversation, names.get(conversation.assignee_id or 0)),
            conversation.id,
            message.id,
            conversation.state,
            created=True,
            new_conversation=new,
            rows=(message, conversation),
            assignee_name=names.get(conversation.assignee_id or 0),
        )


def stored_message(
    db: Database, workspace_id: int, message_id: int
) -> tuple[dict[str, Any], Message]:
    with db.read() as s:
        message = s.get(Message, message_id)
        if message is None or message.workspace_id != workspace_id:
            raise NotFound("No such message.")
        names = user_names(s, {message.author_id})
        return public_message(message, names.get(message.author_id or 0)), message
