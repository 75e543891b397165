"""Knowledge ingest: chunks per second end to end (parse, chunk, embed, store) with the
builtin embedder, and the peak RSS of a process importing 100,000 chunks.

Targets: at least 2,000 chunks/s; peak RSS at most 400 MB. The 100,000-chunk import runs in
a child process (so its peak RSS is its own) and leaves its data directory for the search
benchmark.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.perf.common import Result
from tests.perf.synthetic_help import articles

RATE_ARTICLES = 3000  # about 15,000 chunks
BIG_ARTICLES = 20_000  # about 100,000 chunks
RATE_TARGET = 2000.0
RSS_TARGET_MB = 400.0
MASTER_KEY = "7e" * 32
BIG_DIR = Path(tempfile.gettempdir()) / "chatmina-bench-100k"


def environ(data_dir: Path) -> dict[str, str]:
    return {
        "CHATMINA_DATA_DIR": str(data_dir),
        "CHATMINA_MASTER_KEY": MASTER_KEY,
        "CHATMINA_PASSWORD_HASHING": "insecure-fast",
    }


def open_workspace(data_dir: Path) -> tuple[object, int]:
    """Services for ``data_dir`` and the id of its one workspace (created when new)."""
    from chatmina.accounts import service as accounts
    from chatmina.app import build_services
    from chatmina.settings import load_settings

    services = build_services(load_settings(environ(data_dir)))
    if not accounts.has_users(services.db):
        _, workspace = accounts.create_owner(
            services.db,
            services.passwords,
            email="bench@example.com",
            name="Bench",
            password="correct horse battery",
            workspace_name="Bench",
        )
        return services, workspace.id
    return services, accounts.workspace_by_slug(services.db, "bench").id


def ingest(data_dir: Path, count: int) -> dict[str, float]:
    from sqlalchemy import text

    from chatmina.knowledge import imports
    from chatmina.knowledge.parsers import ImportLimits, extract

    services, workspace_id = open_workspace(data_dir)
    limits = ImportLimits()
    # The rate run times only Chatmina: its files exist before the clock starts. The big run
    # streams them (holding 100 MB of input would blur its RSS figure).
    files = articles(count) if count > RATE_ARTICLES else iter(list(articles(count)))
    sources = (s for name, raw in files for s in extract(name, raw, limits))
    began = time.perf_counter()
    outcomes = imports.import_sources(services.db, services.vectors, workspace_id, sources)  # type: ignore[attr-defined]
    took = time.perf_counter() - began
    with services.db.engine.connect() as conn:  # type: ignore[attr-defined]
        chunks = conn.execute(text("SELECT count(*) FROM chunks")).scalar() or 0
    services.db.checkpoint()  # type: ignore[attr-defined]
    services.db.close()  # type: ignore[attr-defined]
    failed = sum(o.outcome == "failed" for o in outcomes)
    return {"seconds": took, "chunks": chunks, "articles": len(outcomes), "failed": failed}


def build_big(data_dir: Path = BIG_DIR) -> dict[str, float]:
    """Import 100,000 chunks into ``data_dir`` in a child process; its stats and peak RSS."""
    shutil.rmtree(data_dir, ignore_errors=True)
    out = subprocess.run(
        [sys.executable, "-m", "tests.perf.kb_ingest", "--child", str(data_dir), str(BIG_ARTICLES)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def run() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        stats = ingest(Path(tmp) / "data", RATE_ARTICLES)
    rate = stats["chunks"] / stats["seconds"]
    big = build_big()
    return [
        Result(
            "kb_ingest_chunks_per_second",
            rate,
            RATE_TARGET,
            "chunks/s",
            lower_is_better=False,
            extra={
                "chunks": stats["chunks"],
                "articles": stats["articles"],
                "seconds": round(stats["seconds"], 2),
            },
        ),
        Result(
            "kb_ingest_100k_peak_rss",
            big["peak_rss_mb"],
            RSS_TARGET_MB,
            "MB",
            extra={
                "chunks": big["chunks"],
                "seconds": round(big["seconds"], 1),
                "chunks_per_second": round(big["chunks"] / big["seconds"]),
            },
        ),
    ]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        result = ingest(Path(sys.argv[2]), int(sys.argv[3]))
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
