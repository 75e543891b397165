"""Knowledge tables: articles, their chunks, embedding sets and vectors, import jobs.

The full-text table (``chunks_fts``) and the per-embedding-set vector tables
(``chunk_vec_<set id>``) are virtual tables that SQLAlchemy does not model; they live in
:mod:`chatmina.knowledge.index`, and triggers on ``chunks`` keep them in step, so a
deleted article or workspace leaves nothing searchable behind.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from chatmina.storage.db import Base, UTCDateTime


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (
        # An imported article remembers where it came from, so importing the same file or
        # URL again updates it instead of adding a copy.
        UniqueConstraint("workspace_id", "origin"),
        Index("ix_articles_workspace_updated", "workspace_id", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)  # Markdown
    source_url: Mapped[str] = mapped_column(String(2000), default="")
    status: Mapped[str] = mapped_column(String(10))  # draft | published
    origin: Mapped[str | None] = mapped_column(String(1000))
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ArticleTag(Base):
    __tablename__ = "article_tags"
    __table_args__ = (Index("ix_article_tags_workspace_tag", "workspace_id", "tag"),)

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(50), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))


class Chunk(Base):
    """A section-sized piece of an article: what search finds and answers cite."""

    __tablename__ = "chunks"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column()
    heading_path: Mapped[str] = mapped_column(Text, default="")  # headings joined by "\x1f"
    start_offset: Mapped[int] = mapped_column()
    end_offset: Mapped[int] = mapped_column()
    text: Mapped[str] = mapped_column(Text)


class EmbeddingSet(Base):
    """One vector space: the embedder that made it and whether search uses it.

    Exactly one set is ``active``. Switching embedder adds a ``building`` set that a
    background job fills; search keeps using the active set until the new one is complete.
    """

    __tablename__ = "embedding_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    spec: Mapped[str] = mapped_column(String(500))
    dimensions: Mapped[int] = mapped_column()
    config_encrypted: Mapped[str] = mapped_column(Text)  # may hold a provider API key
    status: Mapped[str] = mapped_column(String(10))  # building | active | retired
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ChunkVector(Base):
    """The full-precision vector of a chunk (float16), used to re-score quantized matches."""

    __tablename__ = "chunk_vectors"
    __table_args__ = {"sqlite_with_rowid": False}

    set_id: Mapped[int] = mapped_column(
        ForeignKey("embedding_sets.id", ondelete="CASCADE"), primary_key=True
    )
    chunk_id: Mapped[int] = mapped_column(
        ForeignKey("chunks.id", ondelete="CASCADE"), primary_key=True
    )
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class ImportJob(Base):
    __tablename__ = "import_jobs"
    __table_args__ = (Index("ix_import_jobs_workspace_created", "workspace_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    label: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(12))  # running | finished | failed | interrupted
    total: Mapped[int] = mapped_column(default=0)
    done: Mapped[int] = mapped_column(default=0)
    imported: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ImportResult(Base):
    """What happened to one file (or one Q&A row) of an import."""

    __tablename__ = "import_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(
        ForeignKey("import_jobs.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(1000))
    outcome: Mapped[str] = mapped_column(String(10))  # imported | updated | skipped | failed
    reason: Mapped[str] = mapped_column(String(500), default="")
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"))
