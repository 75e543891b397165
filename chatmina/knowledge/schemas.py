"""JSON shapes of the knowledge API. Constraints here become 400 problem+json on bad input."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
Body = Annotated[str, msgspec.Meta(min_length=1, max_length=1_000_000)]
Url = Annotated[str, msgspec.Meta(max_length=2000)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
Tags = Annotated[list[Tag], msgspec.Meta(max_length=20)]
Status = Literal["draft", "published"]


class ArticleIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Title
    body: Body
    source_url: Url = ""
    tags: Tags = msgspec.field(default_factory=list)
    status: Status = "published"


class ArticlePatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Only the fields sent are changed."""

    title: Title | msgspec.UnsetType = msgspec.UNSET
    body: Body | msgspec.UnsetType = msgspec.UNSET
    source_url: Url | msgspec.UnsetType = msgspec.UNSET
    tags: Tags | msgspec.UnsetType = msgspec.UNSET
    status: Status | msgspec.UnsetType = msgspec.UNSET


class ArticleOut(msgspec.Struct):
    id: int
    title: str
    body: str
    source_url: str
    tags: list[str]
    status: str
    origin: str | None
    chunks: int
    created_at: dt.datetime
    updated_at: dt.datetime


class ArticleSummary(msgspec.Struct):
    id: int
    title: str
    source_url: str
    tags: list[str]
    status: str
    chunks: int
    updated_at: dt.datetime


class ArticleList(msgspec.Struct):
    items: list[ArticleSummary]
    total: int
    page: int
    per_page: int


class SearchHit(msgspec.Struct):
    chunk_id: int
    article_id: int
    title: str
    source_url: str
    heading_path: list[str]
    text: str
    start: int
    end: int
    score: float
    bm25: float | None
    bm25_rank: int | None
    similarity: float | None
    vector_rank: int | None
    matched_terms: list[str]
    tags: list[str]
    status: str


class ImportResultOut(msgspec.Struct):
    name: str
    outcome: str
    reason: str
    article_id: int | None


class ImportJobOut(msgspec.Struct):
    id: int
    status: str
    total: int
    done: int
    imported: int
    updated: int
    skipped: int
    failed: int
    results: list[ImportResultOut]
