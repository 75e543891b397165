"""Recall@5 and MRR of BM25 alone, vectors alone and hybrid, with the builtin embedder,
over Git's documentation imported through the real import path (HTML parser, chunker,
embedder, index)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tests.perf.common import Result
from tests.perf.kb_ingest import open_workspace
from tests.perf.kb_quality.corpus import documents, ensure_installed
from tests.perf.kb_quality.metrics import dedupe_documents, evaluate, load_questions

CHUNK_DEPTH = 50  # chunk hits fetched per question before grouping them by document


def run() -> list[Result]:
    from chatmina.knowledge import imports, service
    from chatmina.knowledge.models import Article
    from chatmina.knowledge.parsers import ImportLimits, extract

    ensure_installed()
    questions = load_questions()
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        services, ws = open_workspace(Path(tmp) / "data")
        db, vectors = services.db, services.vectors  # type: ignore[attr-defined]
        docs = documents()
        began = time.perf_counter()
        sources = [s for name, raw in docs for s in extract(name, raw, ImportLimits())]
        outcomes = imports.import_sources(db, vectors, ws, sources)
        took = time.perf_counter() - began
        with db.read() as s:
            origin = {a.id: a.origin for a in s.query(Article).filter(Article.workspace_id == ws)}
        with db.engine.connect() as conn:
            chunks = conn.exec_driver_sql("SELECT count(*) FROM chunks").scalar()
        failed = [o for o in outcomes if o.outcome == "failed"]

        for mode in ("text", "vector", "hybrid"):

            def search(question: str, k: int, mode: str = mode) -> list[str]:
                hits = service.search(db, vectors, ws, question, limit=CHUNK_DEPTH, mode=mode)
                return dedupe_documents(origin[h.article_id] or "" for h in hits)[:k]

            scores = evaluate(search, questions, k=5)
            extra = {
                "mode": {"text": "bm25", "vector": "vectors", "hybrid": "hybrid"}[mode],
                "mrr": round(scores["mrr"], 3),
                "questions": int(scores["n"]),
                "documents": len(docs),
                "chunks": chunks,
                "import_failures": len(failed),
                "import_seconds": round(took, 2),
                "embedder": vectors.active.spec,
            }
            results.append(
                Result(
                    f"kb_quality_recall_at_5_{extra['mode']}",
                    scores["recall@5"],
                    None,
                    "recall",
                    False,
                    extra,
                )
            )
        db.close()
    return results
