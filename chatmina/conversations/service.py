"""Conversations and their transcripts.

A visitor's question is stored before anything is asked of the model, so a failing or
slow provider never loses it; the answer is stored when it is complete (or has failed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update

from chatmina import clock
from chatmina.conversations.models import Conversation, Message
from chatmina.errors import NotFound
from chatmina.storage.db import Database

HISTORY_MESSAGES = 12  # the latest visitor and assistant messages given to the model


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
        s.execute(
            update(Conversation).where(Conversation.id == conversation_id).values(updated_at=now)
        )
        s.flush()
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


def messages(db: Database, workspace_id: int, conversation_id: int) -> Sequence[Message]:
    with db.read() as s:
        return s.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.workspace_id == workspace_id)
            .order_by(Message.id)
        ).all()
