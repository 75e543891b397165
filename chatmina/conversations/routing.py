"""Who answers a conversation: the assistant, a person, or nobody any more.

    bot ──handoff──▶ waiting ──assign/reply──▶ assigned ──resolve──▶ resolved
     ▲                  │                         │                      │
     └──── hand back ───┴─────────────────────────┘◀──── reopen ─────────┘

The assistant answers only in ``bot``. Each change emits its event in the transaction
that makes it (handoff.requested, conversation.assigned, conversation.resolved,
message.created, feedback.submitted).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from chatmina import clock
from chatmina.accounts.models import Membership
from chatmina.conversations.models import Conversation, Message, Visitor
from chatmina.conversations.service import (
    WIDGET,
    clean_content,
    emit,
    event_message,
    latest,
    preview_text,
    start_conversation,
)
from chatmina.errors import Conflict, NotFound, UserError
from chatmina.storage.db import Database

MAX_COMMENT_CHARS = 1000


@dataclass(frozen=True)
class Changed:
    """What a change touched, for the live updates sent after the commit."""

    conversation_id: int
    message_id: int | None = None  # a new message (or note) to show
    visitor_id: int | None = None
    handed_off: bool = False  # it began waiting for a person just now


def _conversation(s: Session, workspace_id: int, conversation_id: int) -> Conversation:
    row = s.get(Conversation, conversation_id)
    if row is None or row.workspace_id != workspace_id or row.channel != WIDGET:
        raise NotFound("No such conversation.")
    return row


def _visitor_public_id(s: Session, conversation: Conversation) -> str | None:
    if conversation.visitor_id is None:
        return None
    return s.scalar(select(Visitor.public_id).where(Visitor.id == conversation.visitor_id))


def _base(s: Session, conversation: Conversation) -> dict[str, object]:
    return {"conversation_id": conversation.id, "visitor_id": _visitor_public_id(s, conversation)}


# -- the visitor -------------------------------------------------------------------------


def request_handoff(
    db: Database, visitor: Visitor, page_url: str = "", user_agent: str = ""
) -> Changed:
    """The visitor asks for a person: bot -> waiting (a new conversation if none is open)."""
    with db.write() as s:
        conversation = latest(s, visitor)
        if conversation is None or conversation.state == "resolved":
            conversation = start_conversation(db, s, visitor, "bot", page_url, user_agent)
        if conversation.state == "bot":
            conversation.state = "waiting"
            conversation.updated_at = clock.now()
            emit(db, s, "handoff.requested", visitor.workspace_id, _base(s, conversation))
            return Changed(conversation.id, visitor_id=visitor.id, handed_off=True)
        return Changed(conversation.id, visitor_id=visitor.id)


def give_feedback(db: Database, visitor: Visitor, message_id: int, rating: str) -> Changed:
    if rating not in ("up", "down"):
        raise UserError('rating must be "up" or "down".', "rating")
    with db.write() as s:
        message = s.get(Message, message_id)
        conversation = s.get(Conversation, message.conversation_id) if message else None
        if message is None or conversation is None or conversation.visitor_id != visitor.id:
            raise NotFound("No such message.")
        if message.role != "assistant":
            raise UserError("Only the assistant's answers take feedback.", "rating")
        message.feedback = rating
        emit(
            db,
            s,
            "feedback.submitted",
            visitor.workspace_id,
            {**_base(s, conversation), "message_id": message.id, "rating": rating},
        )
        return Changed(conversation.id, visitor_id=visitor.id)


def rate(db: Database, visitor: Visitor, stars: int, comment: str) -> Changed:
    if not 1 <= stars <= 5:
        raise UserError("stars must be 1 to 5.", "stars")
    comment = comment.strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise UserError(f"A comment is limited to {MAX_COMMENT_CHARS:,} characters.", "comment")
    with db.write() as s:
        conversation = latest(s, visitor)
        if conversation is None or conversation.state != "resolved":
            raise Conflict("A conversation can be rated once it is resolved.")
        conversation.rating = stars
        conversation.rating_comment = comment or None
        emit(
            db,
            s,
            "feedback.submitted",
            visitor.workspace_id,
            {**_base(s, conversation), "stars": stars, "comment": comment or None},
        )
        return Changed(conversation.id, visitor_id=visitor.id)


# -- agents --------------------------------------------------------------------------------


def _member(s: Session, workspace_id: int, user_id: int) -> None:
    found = s.scalar(
        select(Membership.id).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user_id
        )
    )
    if found is None:
        raise UserError("Choose a member of this workspace.", "assignee")


def _assign(db: Database, s: Session, conversation: Conversation, user_id: int) -> None:
    if conversation.assignee_id == user_id and conversation.state == "assigned":
        return
    conversation.assignee_id = user_id
    conversation.state = "assigned"
    conversation.resolved_at = None
    emit(
        db,
        s,
        "conversation.assigned",
        conversation.workspace_id,
        {**_base(s, conversation), "assignee_id": user_id},
    )


def assign(db: Database, workspace_id: int, conversation_id: int, user_id: int) -> Changed:
    with db.write() as s:
        conversation = _conversation(s, workspace_id, conversation_id)
        _member(s, workspace_id, user_id)
        _assign(db, s, conversation, user_id)
        conversation.updated_at = clock.now()
        return Changed(conversation.id, visitor_id=conversation.visitor_id)


def unassign(db: Database, workspace_id: int, conversation_id: int) -> Changed:
    """Back to the queue: waiting for whoever takes it next."""
    with db.write() as s:
        conversation = _conversation(s, workspace_id, conversation_id)
        conversation.assignee_id = None
        if conversation.state == "assigned":
            conversation.state = "waiting"
        conversation.updated_at = clock.now()
        return Changed(conversation.id, visitor_id=conversation.visitor_id)


def _add(
    s: Session, conversation: Conversation, role: str, content: str, author_id: int
) -> Message:
    now = clock.now()
    message = Message(
        conversation_id=conversation.id,
        workspace_id=conversation.workspace_id,
        role=role,
        content=content,
        author_id=author_id,
        created_at=now,
    )
    s.add(message)
    s.flush()
    conversation.updated_at = now
    return message


def reply(
    db: Database, workspace_id: int, conversation_id: int, user_id: int, content: str
) -> Changed:
    """An agent answers the visitor; replying takes the conversation (it is assigned)."""
    content = clean_content(content)
    with db.write() as s:
        conversation = _conversation(s, workspace_id, conversation_id)
        if conversation.state == "resolved":
            raise Conflict("This conversation is resolved: reopen it to reply.")
        if conversation.state != "assigned" or conversation.assignee_id is None:
            _assign(db, s, conversation, user_id)
        message = _add(s, conversation, "agent", content, user_id)
        conversation.last_message_at = message.created_at
        conversation.preview = preview_text(content)
        conversation.unread = 0
        emit(
            db,
            s,
            "message.created",
            workspace_id,
            event_message(message, _visitor_public_id(s, conversation)),
        )
        return Changed(conversation.id, message.id, conversation.visitor_id)


def add_note(
    db: Database, workspace_id: int, conversation_id: int, user_id: int, content: str
) -> Changed:
    """An internal note: in the transcript for agents, never shown to the visitor."""
    content = clean_content(content)
    with db.write() as s:
        conversation = _conversation(s, workspace_id, conversation_id)
        message = _add(s, conversation, "note", content, user_id)
        return Changed(conversation.id, message.id, None)


def resolve(db: Database, workspace_id: int, conversation_id: int, user_id: int) -> Changed:
    with db.write() as s:
        conversation = _conversation(s, workspace_id, conversation_id)
        if conversation.state == "resolved":
            return Changed(conversation.id, visitor_id=conversation.visitor_id)
        now = clock.now()
        conversation.state = "resolved"
        conversation.resolved_at = now
        conversation.updated_at = now
        conversation.unread = 0
        emit(
            db,
            s,
            "conversation.resolved",
            workspace_id,
            {**_base(s, conversation), "resolved_by_id": user_id},
        )
        return Changed(conversation.id, visitor_id=conversation.visitor_id)


def reopen(db: Database, workspace_id: int, conversation_id: int) -> Changed:
    """A resolved conversation waits for a person again, in the queue."""
    with db.write() as s:
        conversation = _conversation(s, workspace_id, conversation_id)
        if conversation.state != "resolved":
            raise Conflict("Only a resolved conversation can be reopened.")
        conversation.state = "waiting"
        conversation.assignee_id = None
        conversation.resolved_at = None
        conversation.updated_at = clock.now()
        return Changed(conversation.id, visitor_id=conversation.visitor_id)


def hand_back(db: Database, workspace_id: int, conversation_id: int) -> Changed:
    """The assistant answers again; nobody is assigned."""
    with db.write() as s:
        conversation = _conversation(s, workspace_id, conversation_id)
        conversation.state = "bot"
        conversation.assignee_id = None
        conversation.resolved_at = None
        conversation.updated_at = clock.now()
        return Changed(conversation.id, visitor_id=conversation.visitor_id)


def mark_read(db: Database, workspace_id: int, conversation_id: int) -> None:
    with db.write() as s:
        conversation = _conversation(s, workspace_id, conversation_id)
        conversation.unread = 0
