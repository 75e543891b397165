"""Which vector space search uses, and switching to a new one without a gap.

The configured embedder (CHATMINA_EMBEDDINGS) is compared with the active embedding set at
start-up. When they differ, a ``building`` set is created and :func:`reembed_step` fills it
batch by batch in the background; search and new articles keep using the active set until
the building set covers every chunk, and then one transaction makes it active and drops the
old vectors.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from chatmina import clock
from chatmina.knowledge import embedders, index
from chatmina.knowledge.models import Article, Chunk, ChunkVector, EmbeddingSet
from chatmina.storage import crypto
from chatmina.storage.db import Database
from chatmina.storage.keys import Keys

if TYPE_CHECKING:  # numpy loads on first use, not at start-up
    import numpy as np

log = logging.getLogger(__name__)
REEMBED_BATCH = 256


def _identity(set_id: int) -> str:
    return f"embedding_sets:{set_id}"


@dataclass
class VectorSpace:
    set_id: int
    spec: str
    embedder: embedders.Embedder
    # Chunks up to this id were looked at by the background filling: each batch starts
    # after it instead of scanning the filled part again.
    filled_through: int = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.embed(texts)


@dataclass
class Vectors:
    """The live choice of vector spaces, shared by every request and job."""

    active: VectorSpace
    building: VectorSpace | None = None

    def set_ids(self) -> list[int]:
        ids = [self.active.set_id]
        if self.building is not None:
            ids.append(self.building.set_id)
        return ids


def _new_set(db: Database, keys: Keys, embedder: embedders.Embedder, status: str) -> int:
    with db.write() as s:
        row = EmbeddingSet(
            spec=embedder.spec,
            dimensions=embedder.dimensions,
            config_encrypted="",
            status=status,
            done=0,
            total=s.scalar(select(func.count()).select_from(Chunk)) or 0,
            error="",
            created_at=clock.now(),
        )
        s.add(row)
        s.flush()
        config = json.dumps(embedders.config_of(embedder))
        row.config_encrypted = crypto.encrypt(keys.secrets, config, _identity(row.id))
        index.create_vector_table(s.connection(), row.id, embedder.dimensions)
        return row.id


def _retire(db: Database, set_ids: Sequence[int]) -> None:
    with db.write() as s:
        for set_id in set_ids:
            index.drop_vector_table(s.connection(), set_id)
            s.execute(
                update(EmbeddingSet).where(EmbeddingSet.id == set_id).values(status="retired")
            )


def prepare(db: Database, keys: Keys, configured: embedders.Embedder) -> Vectors:
    """Settle which set is active and which (if any) is being built for ``configured``."""
    with db.read() as s:
        sets = list(s.scalars(select(EmbeddingSet).where(EmbeddingSet.status != "retired")))
    active = next((r for r in sets if r.status == "active"), None)
    building = [r for r in sets if r.status == "building"]
    if active is None:
        set_id = _new_set(db, keys, configured, "active")
        return Vectors(VectorSpace(set_id, configured.spec, configured))
    if active.spec == configured.spec:
        _retire(db, [r.id for r in building])  # switched back before a build finished
        return Vectors(VectorSpace(active.id, active.spec, configured))
    target = next((r for r in building if r.spec == configured.spec), None)
    _retire(db, [r.id for r in building if r is not target])
    target_id = target.id if target is not None else _new_set(db, keys, configured, "building")
    new = VectorSpace(target_id, configured.spec, configured)
    try:
        config = json.loads(
            crypto.decrypt(keys.secrets, active.config_encrypted, _identity(active.id))
        )
        old = VectorSpace(active.id, active.spec, embedders.from_config(config))
    except (embedders.EmbedderError, crypto.DecryptionError, ValueError) as exc:
        # The old embedder cannot embed questions any more (its model directory is gone,
        # say): switch at once and let the background job fill the new set.
        log.warning("the previous embedder %s is unavailable (%s); switching now", active.spec, exc)
        _activate(db, new.set_id, active.id)
        return Vectors(new)
    log.info(
        "embedder changed from %s to %s: re-embedding in the background", active.spec, new.spec
    )
    return Vectors(old, new)


def _switch(s: Session, new_id: int, old_id: int) -> None:
    """Make ``new_id`` the active set and drop the old one's vectors, in ``s``'s transaction."""
    s.execute(
        update(EmbeddingSet)
        .where(EmbeddingSet.id == new_id)
        .values(status="active", completed_at=clock.now(), error="")
    )
    s.execute(update(EmbeddingSet).where(EmbeddingSet.id == old_id).values(status="retired"))
    index.drop_vector_table(s.connection(), old_id)


def _activate(db: Database, new_id: int, old_id: int) -> None:
    with db.write() as s:
        _switch(s, new_id, old_id)


def _without_vector(set_id: int, *columns: Any) -> Select[Any]:
    """Chunks that have no vector in set ``set_id`` yet, oldest first."""
    return (
        select(*columns)
        .select_from(Chunk)
        .outerjoin(ChunkVector, (ChunkVector.set_id == set_id) & (ChunkVector.chunk_id == Chunk.id))
        .where(ChunkVector.chunk_id.is_(None))
        .order_by(Chunk.id)
    )


def _missing(db: Database, set_id: int, after: int, limit: int) -> list[index.IndexedChunk]:
    columns = (Chunk.id, Chunk.workspace_id, Article.status, Article.title, Chunk.heading_path)
    query = (
        _without_vector(set_id, *columns, Chunk.text)
        .join(Article, Article.id == Chunk.article_id)
        .where(Chunk.id > after)
    )
    with db.read() as s:
        return [index.IndexedChunk(*row) for row in s.execute(query.limit(limit))]


def reembed_step(db: Database, vectors: Vectors, batch: int = REEMBED_BATCH) -> bool:
    """Embed one batch of chunks that the set being filled lacks; True while work remains.

    The set being filled is the building set, or the active set itself if it has gaps
    (after switching at once because the old embedder was unavailable).
    """
    from chatmina.knowledge.service import embed_text

    target = vectors.building or vectors.active
    rows = _missing(db, target.set_id, target.filled_through, batch)
    if rows:
        try:
            matrix = target.embed([embed_text(c.title, c.headings, c.text) for c in rows])
        except embedders.EmbedderError as exc:
            # Shown on the Knowledge page; search keeps using the active set meanwhile.
            with db.write() as s:
                s.execute(
                    update(EmbeddingSet)
                    .where(EmbeddingSet.id == target.set_id)
                    .values(error=str(exc)[:500])
                )
            raise
        with db.write() as s:
            # Chunks deleted since they were read must not get vectors (nor fail the batch).
            ids = [c.chunk_id for c in rows]
            alive = set(s.scalars(select(Chunk.id).where(Chunk.id.in_(ids))))
            keep = [i for i, c in enumerate(rows) if c.chunk_id in alive]
            if keep:
                index.write_vectors(
                    s.connection(), target.set_id, [rows[i] for i in keep], matrix[keep]
                )
            s.execute(
                update(EmbeddingSet)
                .where(EmbeddingSet.id == target.set_id)
                .values(
                    done=EmbeddingSet.done + len(keep),
                    total=select(func.count()).select_from(Chunk).scalar_subquery(),
                    error="",
                )
            )
        target.filled_through = rows[-1].chunk_id
        return True
    if vectors.building is None:
        return False
    with db.write() as s:
        # Checked again inside the write transaction: an article saved after the last batch
        # was read must not be left without a vector in the new set.
        gap = s.execute(_without_vector(target.set_id, Chunk.id).limit(1)).first()
        if gap is not None:
            target.filled_through = gap[0] - 1  # chunks that arrived behind the cursor
            return True
        _switch(s, target.set_id, vectors.active.set_id)
    vectors.active, vectors.building = target, None
    log.info("re-embedding finished: search now uses %s", target.spec)
    return False


@dataclass(frozen=True)
class Progress:
    spec: str
    done: int
    total: int
    error: str  # why it is paused, when the new embedder failed


def progress(db: Database, vectors: Vectors) -> Progress | None:
    """How far the background re-embedding is, or None when nothing is running."""
    target = vectors.building
    if target is None:
        return None
    with db.read() as s:
        row = s.get(EmbeddingSet, target.set_id)
        if row is None:
            return None
        return Progress(row.spec, row.done, max(row.total, row.done), row.error)
