"""Visitors, their conversations and transcripts, and each workspace's widget settings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from chatmina.storage.db import Base, UTCDateTime

CHANNELS = ("widget", "playground", "api")
STATES = ("bot", "waiting", "assigned", "resolved")


class Visitor(Base):
    """Someone chatting through the widget. ``public_id`` is what their token names.

    With identity verification, ``external_user_id`` is the business's own user id (the
    widget proved it with an HMAC of the workspace's identity secret); one verified user is
    one visitor, whichever browser they come from.
    """

    __tablename__ = "visitors"
    __table_args__ = (UniqueConstraint("workspace_id", "external_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    verified: Mapped[bool] = mapped_column(default=False)
    external_user_id: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), default="")
    name: Mapped[str] = mapped_column(String(100), default="")
    locale: Mapped[str] = mapped_column(String(20), default="")
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Conversation(Base):
    """A thread between a visitor and the workspace.

    ``state``: bot (the assistant answers), waiting (the visitor asked for a person),
    assigned (an agent handles it; the assistant is silent) or resolved. ``unread`` counts
    visitor messages no agent has opened yet.
    """

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_workspace_updated", "workspace_id", "updated_at"),
        Index("ix_conversations_workspace_state", "workspace_id", "state", "last_message_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(12))
    state: Mapped[str] = mapped_column(String(12), default="bot")
    started_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )  # the admin who asked in the playground
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    visitor_id: Mapped[int | None] = mapped_column(
        ForeignKey("visitors.id", ondelete="CASCADE"), index=True
    )
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    page_url: Mapped[str] = mapped_column(String(2000), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    rating: Mapped[int | None]
    rating_comment: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    unread: Mapped[int] = mapped_column(default=0)
    last_message_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    preview: Mapped[str] = mapped_column(String(200), default="")  # the latest message, short


class Message(Base):
    """One entry of a transcript.

    ``role`` is visitor, assistant, agent or note. An assistant message keeps what it was
    built from: ``sources`` (the numbered passages with their retrieval scores), ``usage``
    (tokens), ``timings`` (milliseconds per step), ``tool_calls`` (what was called, with
    which arguments and result) and ``outcome``: answered, extractive, unknown (below the
    relevance threshold), failed (the model failed; the visitor was offered a person) or
    cancelled (the visitor left mid-answer). ``client_id`` is the widget's own id for a
    visitor message, so a retry after a network failure stores nothing twice.
    """

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation", "conversation_id", "id"),
        UniqueConstraint("conversation_id", "client_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(10))
    content: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(12))
    model: Mapped[str | None] = mapped_column(String(200))
    sources: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    tool_calls: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    usage: Mapped[dict[str, int] | None] = mapped_column(JSON)
    timings: Mapped[dict[str, float] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    client_id: Mapped[str | None] = mapped_column(String(64))
    feedback: Mapped[str | None] = mapped_column(String(4))  # up | down (assistant messages)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class WidgetSettings(Base):
    """One row per workspace that changed its widget; absent means every default."""

    __tablename__ = "widget_settings"

    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    title: Mapped[str] = mapped_column(String(60))
    subtitle: Mapped[str] = mapped_column(String(120))
    primary_color: Mapped[str] = mapped_column(String(7))
    text_on_primary: Mapped[str] = mapped_column(String(7))
    position: Mapped[str] = mapped_column(String(5))  # right | left
    avatar_url: Mapped[str] = mapped_column(String(500))
    greeting: Mapped[str] = mapped_column(Text)
    suggestions: Mapped[list[str]] = mapped_column(JSON)
    launcher_label: Mapped[str] = mapped_column(String(60))
    default_locale: Mapped[str] = mapped_column(String(20))
    strings: Mapped[dict[str, dict[str, str]]] = mapped_column(JSON)  # locale -> key -> text
    allowed_origins: Mapped[list[str]] = mapped_column(JSON)
    identity_verification: Mapped[str] = mapped_column(String(8))  # off | optional | required
    identity_secret_encrypted: Mapped[str] = mapped_column(Text)
    handoff_enabled: Mapped[bool] = mapped_column(default=True)
    # Email the team when a visitor asks for a person and nobody has the inbox open.
    notify_by_email: Mapped[bool] = mapped_column(default=True, server_default=true())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
