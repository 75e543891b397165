"""The SQLite search backend: vectors in vec0, words in FTS5.

Everything that speaks sqlite-vec or FTS5 lives here, behind a handful of functions, so a
PostgreSQL backend (pgvector, tsvector) can implement the same calls later.

Vectors are stored twice, on purpose. The vec0 table holds a 1-bit code per vector
(SimHash: which side of each of 384 random hyperplanes it lies on), partitioned by
workspace: a KNN scan over 100,000 chunks reads 4.8 MB of codes instead of 154 MB of
floats and decrypts a few hundred cached pages instead of 38,000, which is what keeps
search within its latency budget. ``chunk_vectors`` keeps each vector at float16, and the
candidates the codes find are re-ranked by their true cosine similarity. What the codes
cannot do is agree with exact float search on near-ties; tests/perf/kb_search.py measures
how often the exact top 10 reaches the candidates (its recall) against a plain float vec0
table.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from chatmina.knowledge.stopwords import STOPWORDS

if TYPE_CHECKING:  # numpy loads on first use, not at start-up
    import numpy as np

HEADING_SEPARATOR = "\x1f"

_WORD = re.compile(r"\w+", re.UNICODE)


def vector_table(set_id: int) -> str:
    return f"chunk_vec_{int(set_id)}"


def create_vector_table(conn: Connection, set_id: int, dimensions: int) -> None:
    table = vector_table(set_id)
    conn.exec_driver_sql(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING vec0("
        f"workspace_id integer partition key, status text, embedding bit[{int(dimensions)}])"
    )
    # Like chunks_fts: whatever deletes a chunk deletes its vector in the same transaction.
    conn.exec_driver_sql(
        f"CREATE TRIGGER IF NOT EXISTS {table}_delete AFTER DELETE ON chunks BEGIN "
        f"DELETE FROM {table} WHERE rowid = old.id; END"
    )


def drop_vector_table(conn: Connection, set_id: int) -> None:
    table = vector_table(set_id)
    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_delete")
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    conn.exec_driver_sql("DELETE FROM chunk_vectors WHERE set_id = ?", (set_id,))


@dataclass(frozen=True)
class IndexedChunk:
    chunk_id: int
    workspace_id: int
    status: str
    title: str
    headings: str
    text: str


def _scope(workspace_id: int, status: str) -> str:
    return f"w{workspace_id} s{status}"


def write_fulltext(conn: Connection, chunks: Sequence[IndexedChunk]) -> None:
    conn.exec_driver_sql(
        "INSERT INTO chunks_fts(rowid, scope, title, headings, body) VALUES (?, ?, ?, ?, ?)",
        [
            (
                c.chunk_id,
                _scope(c.workspace_id, c.status),
                c.title,
                c.headings.replace(HEADING_SEPARATOR, " "),
                c.text,
            )
            for c in chunks
        ],
    )


@cache
def _hyperplanes(dimensions: int) -> np.ndarray:
    """Fixed random hyperplanes (seeded, so every process draws the same ones)."""
    import numpy as np

    rng = np.random.default_rng(0x5EED_0F_C0DE5)
    return rng.standard_normal((dimensions, dimensions)).astype(np.float32)


def bit_codes(vectors: np.ndarray) -> np.ndarray:
    """One bit per random hyperplane: which side of it each vector lies on (SimHash).

    The sign of each raw component would do poorly: a short question's vector is mostly
    zeros, which all become the same bit. Random hyperplanes make the Hamming distance track
    the angle between vectors instead.
    """
    import numpy as np

    return np.packbits((vectors @ _hyperplanes(vectors.shape[1])) > 0, axis=1)


def write_vectors(
    conn: Connection, set_id: int, chunks: Sequence[IndexedChunk], vectors: np.ndarray
) -> None:
    import numpy as np

    bits = bit_codes(vectors)
    halves = vectors.astype(np.float16)
    conn.exec_driver_sql(
        f"INSERT INTO {vector_table(set_id)}(rowid, workspace_id, status, embedding) "
        "VALUES (?, ?, ?, vec_bit(?))",
        [(c.chunk_id, c.workspace_id, c.status, bits[i].tobytes()) for i, c in enumerate(chunks)],
    )
    conn.exec_driver_sql(
        "INSERT INTO chunk_vectors(set_id, chunk_id, vector) VALUES (?, ?, ?)",
        [(set_id, c.chunk_id, halves[i].tobytes()) for i, c in enumerate(chunks)],
    )


def set_status(conn: Connection, set_ids: Iterable[int], chunks: Sequence[IndexedChunk]) -> None:
    """Re-scope an article's chunks after its status changed, without re-embedding."""
    ids = [(c.chunk_id,) for c in chunks]
    conn.exec_driver_sql("DELETE FROM chunks_fts WHERE rowid = ?", ids)
    write_fulltext(conn, chunks)
    for set_id in set_ids:
        conn.exec_driver_sql(
            f"UPDATE {vector_table(set_id)} SET status = ? WHERE rowid = ?",
            [(c.status, c.chunk_id) for c in chunks],
        )


# Most help centers are small. Up to SMALL_PARTITION chunks, re-ranking SMALL_CANDIDATES
# candidates costs a few milliseconds and brings the codes much closer to exact search (on
# the git-doc questions at answer depth, vector recall@5 0.584 -> 0.628).
SMALL_PARTITION = 20_000
SMALL_CANDIDATES = 300
_SIZES: dict[int, tuple[int, float]] = {}
_SIZE_TTL_SECONDS = 60.0


def _partition_size(conn: Connection, workspace_id: int) -> int:
    now = time.monotonic()
    cached = _SIZES.get(workspace_id)
    if cached is not None and now - cached[1] < _SIZE_TTL_SECONDS:
        return cached[0]
    size = int(
        conn.exec_driver_sql(
            "SELECT count(*) FROM chunks WHERE workspace_id = ?", (workspace_id,)
        ).scalar()
        or 0
    )
    _SIZES[workspace_id] = (size, now)
    return size


def vector_candidates(
    conn: Connection,
    set_id: int,
    workspace_id: int,
    query: np.ndarray,
    k: int,
    status: str | None,
    oversample: int = 3,
) -> list[tuple[int, float]]:
    """The ``k`` nearest chunks as (chunk id, cosine similarity), best first.

    Hamming distance on the bit vectors picks ``k * oversample`` candidates; their float16
    vectors decide the final order.
    """
    import numpy as np

    if not query.any():
        return []
    bits = bit_codes(query.reshape(1, -1))[0].tobytes()
    candidates = k * oversample
    if candidates < SMALL_CANDIDATES and _partition_size(conn, workspace_id) <= SMALL_PARTITION:
        candidates = SMALL_CANDIDATES
    where = "embedding MATCH vec_bit(?) AND k = ? AND workspace_id = ?"
    params: list[object] = [bits, candidates, workspace_id]
    if status is not None:
        where += " AND status = ?"
        params.append(status)
    rows = conn.exec_driver_sql(
        f"SELECT rowid FROM {vector_table(set_id)} WHERE {where}", tuple(params)
    ).fetchall()
    if not rows:
        return []
    ids = [r[0] for r in rows]
    marks = ",".join("?" * len(ids))
    stored = conn.exec_driver_sql(
        f"SELECT chunk_id, vector FROM chunk_vectors WHERE set_id = ? AND chunk_id IN ({marks})",
        (set_id, *ids),
    ).fetchall()
    if not stored:
        return []
    matrix = np.frombuffer(b"".join(r[1] for r in stored), dtype=np.float16).reshape(
        len(stored), -1
    )
    scores = matrix.astype(np.float32) @ query.astype(np.float32)
    order = np.argsort(-scores)[:k]
    return [(int(stored[i][0]), float(scores[i])) for i in order]


def query_terms(text: str) -> list[str]:
    """The words of a question that are worth matching, in order, without repeats."""
    words = [w for w in _WORD.findall(text.lower()) if len(w) < 64]
    kept = [w for w in words if w not in STOPWORDS] or words
    return list(dict.fromkeys(kept))[:32]


# Document frequencies change slowly; looking one up costs a scan of the term's doclist,
# so they are remembered for a while. Approximate counts only steer which terms to drop.
_DF_CACHE: dict[str, tuple[int, float]] = {}
_DF_TTL_SECONDS = 600.0
_DF_CACHE_SIZE = 50_000
# Chunks scored per query at most (BM25 costs ~2 us a chunk here), and the share of all
# chunks above which a term is dropped when rarer ones remain. Tighter limits were measured
# on the git-doc questions: dropping terms found in 5% of chunks cost BM25 0.13 of recall@5;
# at 20% it costs 0.01.
MAX_POSTINGS = 20_000
COMMON_SHARE = 0.2
USELESS_SHARE = 0.3  # a term in more than 30% of chunks ranks nothing: no full-text side


def _document_frequency(conn: Connection, term: str) -> int:
    now = time.monotonic()
    cached = _DF_CACHE.get(term)
    if cached is not None and now - cached[1] < _DF_TTL_SECONDS:
        return cached[0]
    quoted = '"' + term.replace('"', "") + '"'
    count = int(
        conn.exec_driver_sql(
            "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (quoted,)
        ).scalar()
        or 0
    )
    if len(_DF_CACHE) >= _DF_CACHE_SIZE:
        _DF_CACHE.clear()
    _DF_CACHE[term] = (count, now)
    return count


def _discriminating(conn: Connection, terms: Sequence[str]) -> list[str]:
    """The terms worth ranking by, rarest first, within a scoring budget.

    FTS5 computes BM25 for every chunk that contains any query term before it can sort,
    so the cost of a query is the sum of its terms' document frequencies. Common terms add
    much cost and little ranking (BM25 gives a word found in most chunks almost no weight):
    "git" in Git's documentation alone would mean scoring nearly the whole index. Terms are
    taken rarest first while the total stays within MAX_POSTINGS; the rarest is always kept
    unless it is so common that it ranks nothing.
    """
    if not terms:
        return []
    total = int(conn.exec_driver_sql("SELECT max(id) FROM chunks").scalar() or 0)
    if total <= MAX_POSTINGS:
        return list(terms)
    df = {t: _document_frequency(conn, t) for t in terms}
    ranked = sorted((t for t in terms if df[t] > 0), key=lambda t: df[t])
    if not ranked or df[ranked[0]] > USELESS_SHARE * total:
        return []
    kept, budget = [ranked[0]], MAX_POSTINGS - df[ranked[0]]
    for term in ranked[1:]:
        if df[term] > budget or df[term] > COMMON_SHARE * total:
            break
        kept.append(term)
        budget -= df[term]
    return kept


def text_candidates(
    conn: Connection, workspace_id: int, terms: Sequence[str], k: int, status: str | None
) -> list[tuple[int, float]]:
    """The ``k`` best BM25 matches as (chunk id, score), best first (higher is better).

    Most instances hold one busy workspace, so the fast path ranks the whole index and
    keeps this workspace's rows. Should other workspaces crowd them out of the first
    ``4 * k``, the query runs again restricted by the ``scope`` column, which is exact but
    slower: ANDing with a term every chunk of the workspace carries is a long merge.
    """
    terms = _discriminating(conn, terms)
    if not terms:
        return []
    # Each term is quoted, so nothing a visitor types is read as FTS5 query syntax.
    words = " OR ".join('"' + t.replace('"', "") + '"' for t in terms)
    match = f"{{title headings body}} : ({words})"
    depth = 4 * k
    # rank is bm25 with the column weights set in the migration (title 3, headings 2,
    # body 1); ORDER BY rank with a LIMIT lets FTS5 keep only the best rows.
    rows = conn.exec_driver_sql(
        "SELECT rowid, rank FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?",
        (match, depth),
    ).fetchall()
    kept = _in_scope(conn, [r[0] for r in rows], workspace_id, status)
    found = [(int(r[0]), -float(r[1])) for r in rows if r[0] in kept]
    if len(found) >= k or len(rows) < depth:
        return found[:k]
    scope = f'scope : "w{workspace_id}"'
    if status is not None:
        scope += f' AND scope : "s{status}"'
    rows = conn.exec_driver_sql(
        "SELECT rowid, rank FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?",
        (f"{scope} AND {match}", k),
    ).fetchall()
    # FTS5's bm25() is negative, lower meaning better; report it the usual way round.
    return [(int(r[0]), -float(r[1])) for r in rows]


def _in_scope(
    conn: Connection, ids: Sequence[int], workspace_id: int, status: str | None
) -> set[int]:
    if not ids:
        return set()
    marks = ",".join("?" * len(ids))
    sql = f"SELECT c.id FROM chunks c WHERE c.id IN ({marks}) AND c.workspace_id = ?"
    params: list[object] = [*ids, workspace_id]
    if status is not None:
        sql = (
            f"SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id "
            f"WHERE c.id IN ({marks}) AND c.workspace_id = ? AND a.status = ?"
        )
        params.append(status)
    return {r[0] for r in conn.exec_driver_sql(sql, tuple(params))}
