"""A workspace's assistant settings and the questions its knowledge could not answer."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chatmina.storage.db import Base, UTCDateTime


class AssistantSettings(Base):
    """One row per workspace that changed anything; absent means every default.

    Empty ``llm_*`` fields mean "use the instance's CHATMINA_LLM_* settings".
    """

    __tablename__ = "assistant_settings"

    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    assistant_name: Mapped[str] = mapped_column(String(60))
    tone: Mapped[str] = mapped_column(String(20))
    instructions: Mapped[str] = mapped_column(Text)
    knowledge_mode: Mapped[str] = mapped_column(String(20))  # knowledge_only | general
    relevance_threshold: Mapped[float]
    max_sources: Mapped[int]
    max_tool_calls: Mapped[int]
    llm_base_url: Mapped[str] = mapped_column(String(500))
    llm_api_key_encrypted: Mapped[str] = mapped_column(Text)
    llm_model: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class KnowledgeGap(Base):
    """A question asked while the knowledge base had nothing relevant enough."""

    __tablename__ = "knowledge_gaps"
    __table_args__ = (Index("ix_knowledge_gaps_workspace_created", "workspace_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL")
    )
    question: Mapped[str] = mapped_column(Text)
    best_relevance: Mapped[float]
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
