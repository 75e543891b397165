"""The knowledge base: articles in, ranked chunks out.

Writing an article is one transaction: the article row, its tags, its chunks, their
full-text rows and their vectors commit together or not at all, so search never sees a
half-indexed article. Parsing, chunking and embedding happen before that transaction, so
the single SQLite writer is held only for the inserts.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.orm import Session

from chatmina import clock
from chatmina.errors import NotFound, UserError
from chatmina.knowledge import index
from chatmina.knowledge.chunking import chunk_markdown
from chatmina.knowledge.embedding_sets import Vectors
from chatmina.knowledge.models import Article, ArticleTag, Chunk
from chatmina.storage.db import Database

if TYPE_CHECKING:  # numpy loads on first use, not at start-up
    import numpy as np

STATUSES = ("draft", "published")
MAX_TITLE = 300
MAX_BODY = 1_000_000
MAX_TAGS = 20
MAX_TAG = 50
CHUNK_CHARS = 1200
CHUNK_OVERLAP = 150
_TAG = re.compile(r"^[\w][\w .\-/]*$", re.UNICODE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class ArticleInput:
    title: str
    body: str
    source_url: str = ""
    tags: tuple[str, ...] = ()
    status: str = "published"


# -- validation -----------------------------------------------------------------------------


def clean_article(data: ArticleInput) -> ArticleInput:
    """Normalise an article or raise UserError naming the field."""
    title = " ".join(data.title.split())
    if not title:
        raise UserError("Give the article a title.", "title")
    if len(title) > MAX_TITLE:
        raise UserError(f"The title is longer than {MAX_TITLE} characters.", "title")
    body = _CONTROL.sub("", data.body.replace("\r\n", "\n"))
    if not body.strip():
        raise UserError("The article has no text.", "body")
    if len(body) > MAX_BODY:
        raise UserError(f"The article is longer than {MAX_BODY:,} characters.", "body")
    url = data.source_url.strip()
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2000:
            raise UserError("The source URL must be an http:// or https:// address.", "source_url")
    tags = clean_tags(data.tags)
    if data.status not in STATUSES:
        raise UserError("Status must be draft or published.", "status")
    return ArticleInput(title, body, url, tags, data.status)


def clean_tags(raw: Sequence[str]) -> tuple[str, ...]:
    tags: list[str] = []
    for value in raw:
        tag = " ".join(value.split()).lower()
        if not tag:
            continue
        if len(tag) > MAX_TAG or not _TAG.match(tag):
            raise UserError(
                f"Tag {tag[:MAX_TAG]!r} is not allowed: use up to {MAX_TAG} letters, digits, "
                "spaces, dots, dashes or slashes.",
                "tags",
            )
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise UserError(f"Use at most {MAX_TAGS} tags.", "tags")
    return tuple(tags)


def split_tags(text: str) -> tuple[str, ...]:
    return tuple(t for t in (p.strip() for p in text.split(",")) if t)


def content_hash(data: ArticleInput) -> str:
    """What an import compares to decide "unchanged". The status is left out: re-importing
    a file must not publish an article an admin turned back into a draft."""
    h = hashlib.sha256()
    for part in (data.title, data.body, data.source_url, "\x1f".join(data.tags)):
        h.update(part.encode())
        h.update(b"\x00")
    return h.hexdigest()


# -- the write path -------------------------------------------------------------------------


@dataclass
class Prepared:
    """An article chunked and embedded, ready to be written."""

    data: ArticleInput
    chunks: list[tuple[int, int, str, str]]  # start, end, heading path, text
    vectors: np.ndarray
    digest: str


def embed_text(title: str, headings: str, text: str) -> str:
    path = headings.replace(index.HEADING_SEPARATOR, " > ")
    return f"{title}\n{path}\n{text}" if path else f"{title}\n{text}"


def prepare(vectors: Vectors, items: Sequence[ArticleInput]) -> list[Prepared]:
    """Chunk and embed several articles in one embedder call (the expensive part)."""
    import numpy as np

    prepared: list[Prepared] = []
    texts: list[str] = []
    for data in items:
        chunks = [
            (c.start, c.end, index.HEADING_SEPARATOR.join(c.heading_path), c.text)
            for c in chunk_markdown(data.body, max_chars=CHUNK_CHARS, overlap=CHUNK_OVERLAP)
        ]
        texts.extend(embed_text(data.title, h, t) for _, _, h, t in chunks)
        prepared.append(Prepared(data, chunks, np.empty(0), content_hash(data)))
    matrix = vectors.active.embed(texts) if texts else np.zeros((0, 0), np.float32)
    offset = 0
    for p in prepared:
        p.vectors = matrix[offset : offset + len(p.chunks)]
        offset += len(p.chunks)
    return prepared


def _write_tags(s: Session, article: Article, tags: Sequence[str]) -> None:
    s.execute(delete(ArticleTag).where(ArticleTag.article_id == article.id))
    if tags:
        s.execute(
            insert(ArticleTag),
            [
                {"article_id": article.id, "tag": t, "workspace_id": article.workspace_id}
                for t in tags
            ],
        )


def _rescope(s: Session, vectors: Vectors, article: Article) -> None:
    rows = s.execute(
        select(Chunk.id, Chunk.heading_path, Chunk.text).where(Chunk.article_id == article.id)
    ).all()
    indexed = [
        index.IndexedChunk(r.id, article.workspace_id, article.status, article.title, r[1], r[2])
        for r in rows
    ]
    if indexed:
        index.set_status(s.connection(), vectors.set_ids(), indexed)


@dataclass
class Pending:
    """One prepared article to write: a new one (``article_id`` None) or a replacement."""

    prepared: Prepared
    article_id: int | None = None
    origin: str | None = None


def save_batch(
    s: Session, vectors: Vectors, workspace_id: int, batch: Sequence[Pending]
) -> list[int]:
    """Insert or replace articles and everything derived from them in ``s``'s transaction.

    Bulk statements, not the ORM row by row: this is the ingest hot path. Ids are taken as
    max(id) + 1 because ``s`` holds the write lock (BEGIN IMMEDIATE), so no other writer can
    take them, and knowing them up front spares a read-back of every inserted row.
    """
    import numpy as np

    now = clock.now()
    replaced = [p.article_id for p in batch if p.article_id is not None]
    if replaced:
        # Old chunks go first; their triggers remove the full-text rows and vectors.
        s.execute(delete(Chunk).where(Chunk.article_id.in_(replaced)))
        s.execute(delete(ArticleTag).where(ArticleTag.article_id.in_(replaced)))
    next_article = (s.scalar(select(func.max(Article.id))) or 0) + 1
    ids: list[int] = []
    new_rows: list[dict[str, object]] = []
    for p in batch:
        data = p.prepared.data
        if p.article_id is None:
            ids.append(next_article)
            new_rows.append(
                {
                    "id": next_article,
                    "workspace_id": workspace_id,
                    "title": data.title,
                    "body": data.body,
                    "source_url": data.source_url,
                    "status": data.status,
                    "origin": p.origin,
                    "content_hash": p.prepared.digest,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            next_article += 1
        else:
            ids.append(p.article_id)
            s.execute(
                update(Article)
                .where(Article.id == p.article_id)
                .values(
                    title=data.title,
                    body=data.body,
                    source_url=data.source_url,
                    status=data.status,
                    content_hash=p.prepared.digest,
                    updated_at=now,
                )
            )
    if new_rows:
        s.execute(insert(Article), new_rows)
    tag_rows = [
        {"article_id": article_id, "tag": tag, "workspace_id": workspace_id}
        for article_id, p in zip(ids, batch, strict=True)
        for tag in p.prepared.data.tags
    ]
    if tag_rows:
        s.execute(insert(ArticleTag), tag_rows)

    next_chunk = (s.scalar(select(func.max(Chunk.id))) or 0) + 1
    chunk_rows: list[tuple[object, ...]] = []
    indexed: list[index.IndexedChunk] = []
    matrices = []
    for article_id, p in zip(ids, batch, strict=True):
        data = p.prepared.data
        for position, (start, end, headings, text) in enumerate(p.prepared.chunks):
            chunk_rows.append(
                (next_chunk, workspace_id, article_id, position, headings, start, end, text)
            )
            indexed.append(
                index.IndexedChunk(
                    next_chunk, workspace_id, data.status, data.title, headings, text
                )
            )
            next_chunk += 1
        if p.prepared.chunks:
            matrices.append(p.prepared.vectors)
    if chunk_rows:
        conn = s.connection()
        conn.exec_driver_sql(
            "INSERT INTO chunks(id, workspace_id, article_id, position, heading_path, "
            "start_offset, end_offset, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            chunk_rows,
        )
        index.write_fulltext(conn, indexed)
        index.write_vectors(conn, vectors.active.set_id, indexed, np.vstack(matrices))
    return ids


# -- articles -------------------------------------------------------------------------------


def _article(s: Session, workspace_id: int, article_id: int) -> Article:
    article = s.get(Article, article_id)
    if article is None or article.workspace_id != workspace_id:
        raise NotFound("No such article.")
    return article


def create_article(
    db: Database, vectors: Vectors, workspace_id: int, data: ArticleInput
) -> Article:
    [p] = prepare(vectors, [clean_article(data)])
    with db.write() as s:
        [article_id] = save_batch(s, vectors, workspace_id, [Pending(p)])
        return _article(s, workspace_id, article_id)


def update_article(
    db: Database, vectors: Vectors, workspace_id: int, article_id: int, data: ArticleInput
) -> Article:
    data = clean_article(data)
    with db.read() as s:
        current = _article(s, workspace_id, article_id)
        same_text = current.title == data.title and current.body == data.body
    # Re-chunk and re-embed only when the text changed; a status, tag or URL change only
    # touches the rows that carry them.
    prepared = None if same_text else prepare(vectors, [data])[0]
    with db.write() as s:
        article = _article(s, workspace_id, article_id)
        if prepared is not None:
            save_batch(s, vectors, workspace_id, [Pending(prepared, article.id, article.origin)])
            s.refresh(article)
            return article
        status_changed = article.status != data.status
        article.source_url, article.status = data.source_url, data.status
        article.content_hash, article.updated_at = content_hash(data), clock.now()
        s.flush()
        _write_tags(s, article, data.tags)
        if status_changed:
            _rescope(s, vectors, article)
        return article


def delete_article(db: Database, workspace_id: int, article_id: int) -> Article:
    with db.write() as s:
        article = _article(s, workspace_id, article_id)
        s.delete(article)  # chunks cascade; their triggers clear full-text and vector rows
        return article


def get_article(db: Database, workspace_id: int, article_id: int) -> tuple[Article, list[str]]:
    with db.read() as s:
        article = _article(s, workspace_id, article_id)
        return article, tags_of(s, [article.id]).get(article.id, [])


def chunk_count(db: Database, article_id: int) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).where(Chunk.article_id == article_id)) or 0


def tags_of(s: Session, article_ids: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    if not article_ids:
        return found
    rows = s.execute(
        select(ArticleTag.article_id, ArticleTag.tag)
        .where(ArticleTag.article_id.in_(article_ids))
        .order_by(ArticleTag.tag)
    )
    for article_id, tag in rows:
        found.setdefault(article_id, []).append(tag)
    return found


@dataclass
class ArticlePage:
    articles: list[Article]
    tags: dict[int, list[str]]
    chunk_counts: dict[int, int]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def list_articles(
    db: Database,
    workspace_id: int,
    *,
    q: str = "",
    status: str | None = None,
    tag: str | None = None,
    page: int = 1,
    per_page: int = 25,
) -> ArticlePage:
    if status is not None and status not in STATUSES:
        raise UserError("Status must be draft or published.", "status")
    if page < 1 or not 1 <= per_page <= 100:
        raise UserError("page starts at 1 and per_page is between 1 and 100.", "page")
    query = select(Article).where(Article.workspace_id == workspace_id)
    if status:
        query = query.where(Article.status == status)
    if tag:
        query = query.where(
            Article.id.in_(
                select(ArticleTag.article_id).where(
                    ArticleTag.workspace_id == workspace_id, ArticleTag.tag == tag.strip().lower()
                )
            )
        )
    words = [w for w in q.split() if w][:8]
    for word in words:
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            Article.title.ilike(pattern, escape="\\") | Article.body.ilike(pattern, escape="\\")
        )
    with db.read() as s:
        total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = list(
            s.scalars(
                query.order_by(Article.updated_at.desc(), Article.id.desc())
                .limit(per_page)
                .offset((page - 1) * per_page)
            )
        )
        ids = [a.id for a in rows]
        counts = (
            dict(
                s.execute(
                    select(Chunk.article_id, func.count())
                    .where(Chunk.article_id.in_(ids))
                    .group_by(Chunk.article_id)
                ).all()
            )
            if ids
            else {}
        )
        return ArticlePage(rows, tags_of(s, ids), counts, total, page, per_page)


def list_tags(db: Database, workspace_id: int) -> list[tuple[str, int]]:
    with db.read() as s:
        rows = s.execute(
            select(ArticleTag.tag, func.count())
            .where(ArticleTag.workspace_id == workspace_id)
            .group_by(ArticleTag.tag)
            .order_by(ArticleTag.tag)
        )
        return [(t, n) for t, n in rows]


def chunks_of(db: Database, workspace_id: int, article_id: int) -> list[Chunk]:
    with db.read() as s:
        _article(s, workspace_id, article_id)
        return list(
            s.scalars(select(Chunk).where(Chunk.article_id == article_id).order_by(Chunk.position))
        )


def stats(db: Database, workspace_id: int) -> dict[str, int]:
    with db.read() as s:
        articles = dict(
            s.execute(
                select(Article.status, func.count())
                .where(Article.workspace_id == workspace_id)
                .group_by(Article.status)
            ).all()
        )
        chunks = s.scalar(select(func.count()).where(Chunk.workspace_id == workspace_id)) or 0
    return {
        "published": articles.get("published", 0),
        "draft": articles.get("draft", 0),
        "chunks": chunks,
    }


# -- search ---------------------------------------------------------------------------------

RRF_K = 60  # the usual reciprocal-rank-fusion constant: dampens the weight of the top ranks


@dataclass
class Hit:
    chunk_id: int
    article_id: int
    title: str
    source_url: str
    heading_path: list[str]
    text: str
    start: int
    end: int
    score: float  # the fused score
    bm25: float | None = None
    bm25_rank: int | None = None
    similarity: float | None = None
    vector_rank: int | None = None
    matched_terms: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    status: str = ""


MAX_QUERY_CHARS = 2000
_SIDES = ThreadPoolExecutor(max_workers=8, thread_name_prefix="search")


def query_terms(query: str) -> list[str]:
    """The words of a question that search matches (no stopwords, no repeats)."""
    return index.query_terms(query)


def search(
    db: Database,
    vectors: Vectors,
    workspace_id: int,
    query: str,
    *,
    limit: int = 10,
    mode: str = "hybrid",
    status: str | None = "published",
    tags: Sequence[str] = (),
) -> list[Hit]:
    """Rank chunks for ``query``: BM25 and vector similarity fused by reciprocal rank.

    ``mode`` "text" or "vector" uses one side alone (the quality benchmark compares them).
    """
    query = query.strip()
    if not query:
        raise UserError("Type something to search for.", "q")
    if len(query) > MAX_QUERY_CHARS:
        raise UserError(f"The search text is longer than {MAX_QUERY_CHARS:,} characters.", "q")
    if mode not in ("hybrid", "text", "vector"):
        raise UserError("mode must be hybrid, text or vector.", "mode")
    if status is not None and status not in STATUSES:
        raise UserError("Status must be draft or published.", "status")
    if not 1 <= limit <= 50:
        raise UserError("limit is between 1 and 50.", "limit")
    wanted_tags = clean_tags(tags)
    # Filtering by tag happens after ranking, so ask each side for more.
    depth = max(limit * 2, 20) * (4 if wanted_tags else 1)
    terms = index.query_terms(query)
    space = vectors.active

    def vector_side() -> list[tuple[int, float]]:
        qvec = space.embed([query])[0]
        with db.engine.connect() as conn:
            return index.vector_candidates(conn, space.set_id, workspace_id, qvec, depth, status)

    # The two sides run at once, on two connections: SQLite lets go of the GIL while it
    # works, so a hybrid search costs about its slower side, not both.
    vector_future = _SIDES.submit(vector_side) if mode != "text" else None
    with db.engine.connect() as conn:
        text_hits = (
            index.text_candidates(conn, workspace_id, terms, depth, status)
            if mode != "vector"
            else []
        )
        vector_hits = vector_future.result() if vector_future is not None else []
        fused: dict[int, float] = {}
        for ranking in (text_hits, vector_hits):
            for rank, (chunk_id, _) in enumerate(ranking):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        order = sorted(fused, key=lambda c: -fused[c])
        hits = _load_hits(conn, workspace_id, order, wanted_tags, limit)
    text_rank = {c: (i + 1, s) for i, (c, s) in enumerate(text_hits)}
    vector_rank = {c: (i + 1, s) for i, (c, s) in enumerate(vector_hits)}
    for hit in hits:
        hit.score = fused[hit.chunk_id]
        if hit.chunk_id in text_rank:
            hit.bm25_rank, hit.bm25 = text_rank[hit.chunk_id]
        if hit.chunk_id in vector_rank:
            hit.vector_rank, hit.similarity = vector_rank[hit.chunk_id]
        lowered = (hit.title + " " + " ".join(hit.heading_path) + " " + hit.text).lower()
        hit.matched_terms = [t for t in terms if t in lowered]
    return hits


def _load_hits(
    conn: Connection, workspace_id: int, order: list[int], tags: Sequence[str], limit: int
) -> list[Hit]:
    if not order:
        return []
    marks = ",".join("?" * len(order))
    rows = conn.exec_driver_sql(
        "SELECT c.id, c.article_id, c.heading_path, c.text, c.start_offset, c.end_offset, "
        "a.title, a.source_url, a.status FROM chunks c JOIN articles a ON a.id = c.article_id "
        f"WHERE c.id IN ({marks}) AND c.workspace_id = ?",
        (*order, workspace_id),
    ).fetchall()
    by_id = {r[0]: r for r in rows}
    article_tags: dict[int, list[str]] = {}
    article_ids = sorted({r[1] for r in rows})
    if article_ids:
        tag_marks = ",".join("?" * len(article_ids))
        for article_id, tag in conn.exec_driver_sql(
            f"SELECT article_id, tag FROM article_tags WHERE article_id IN ({tag_marks}) "
            "ORDER BY tag",
            tuple(article_ids),
        ):
            article_tags.setdefault(article_id, []).append(tag)
    hits: list[Hit] = []
    for chunk_id in order:
        r = by_id.get(chunk_id)
        if r is None:
            continue
        its_tags = article_tags.get(r[1], [])
        if tags and not set(tags) <= set(its_tags):
            continue
        hits.append(
            Hit(
                chunk_id=r[0],
                article_id=r[1],
                title=r[6],
                source_url=r[7],
                heading_path=[h for h in r[2].split(index.HEADING_SEPARATOR) if h],
                text=r[3],
                start=r[4],
                end=r[5],
                score=0.0,
                tags=its_tags,
                status=r[8],
            )
        )
        if len(hits) == limit:
            break
    return hits
