"""AI Function definitions and their call log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from chatmina.storage.db import Base, UTCDateTime


class AiFunction(Base):
    """One endpoint the model may call, with the JSON Schema of its arguments.

    Secrets are encrypted (storage/crypto.py) and bound to the row: ``secret_encrypted``
    signs every call; ``previous_secret_encrypted`` keeps signing until
    ``previous_secret_expires_at`` after a rotation; ``headers_encrypted`` is a JSON object
    of extra headers (their values are often API keys).
    """

    __tablename__ = "ai_functions"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_ai_functions_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    url: Mapped[str] = mapped_column(String(2000))
    method: Mapped[str] = mapped_column(String(8))
    timeout_seconds: Mapped[int]
    enabled: Mapped[bool]
    only_verified: Mapped[bool]
    headers_encrypted: Mapped[str] = mapped_column(Text)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    previous_secret_encrypted: Mapped[str] = mapped_column(Text)
    previous_secret_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    secret_rotated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class FunctionCall(Base):
    """One attempt to call a function: during an answer, or a test from the admin UI.

    ``message_id`` is the request's webhook-id (the same for a retried attempt).
    Arguments and the response excerpt are encrypted like every secret: they carry what
    visitors typed and what the business's systems know about them.
    """

    __tablename__ = "function_calls"
    __table_args__ = (
        Index("ix_function_calls_function_created", "function_id", "created_at"),
        Index("ix_function_calls_workspace_created", "workspace_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    function_id: Mapped[int] = mapped_column(ForeignKey("ai_functions.id", ondelete="CASCADE"))
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL")
    )
    message_id: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str] = mapped_column(String(200))  # the model's id for the call
    attempt: Mapped[int]
    is_test: Mapped[bool]
    ok: Mapped[bool]
    status_code: Mapped[int | None]
    latency_ms: Mapped[float]
    error: Mapped[str] = mapped_column(String(500))
    arguments_encrypted: Mapped[str] = mapped_column(Text)
    response_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
