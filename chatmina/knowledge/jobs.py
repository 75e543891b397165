"""Background work of the knowledge base: import jobs and re-embedding.

Imports run one at a time on a single worker thread (SQLite has one writer; two imports
at once would only take turns at it). Their progress lives in the import_jobs row, which
the UI follows, so a page reload or a second browser sees the same state. Re-embedding
after an embedder switch runs on its own thread so it never holds up an import.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from chatmina.knowledge import embedding_sets, imports
from chatmina.knowledge.embedding_sets import Vectors
from chatmina.storage.db import Database

if TYPE_CHECKING:  # the parsers load with the first import job
    from chatmina.knowledge.parsers import Source

log = logging.getLogger(__name__)


class KnowledgeJobs:
    def __init__(self, db: Database, vectors: Vectors) -> None:
        self.db = db
        self.vectors = vectors
        self._imports = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import")
        self._stop = threading.Event()
        self._reembed: threading.Thread | None = None

    def start_import(
        self,
        workspace_id: int,
        user_id: int | None,
        label: str,
        sources: Callable[[int], Iterable[Source]],
        total: int = 0,
        status: str = "published",
    ) -> tuple[int, Future[None]]:
        """Create the job row now and run it in the background.

        ``sources(job_id)`` is called on the worker thread, so fetching URLs happens there
        too; it may grow the job's total with :func:`imports.add_to_total` as it finds more.
        """
        job_id = imports.start_job(self.db, workspace_id, user_id, label, total)

        def run() -> None:
            try:
                imports.import_sources(
                    self.db,
                    self.vectors,
                    workspace_id,
                    sources(job_id),
                    status=status,
                    job_id=job_id,
                )
            except Exception:
                log.exception("import %s failed", job_id)
                imports.finish_job(self.db, job_id, "failed")
            else:
                imports.finish_job(self.db, job_id)

        return job_id, self._imports.submit(run)

    def start_reembedding(self) -> None:
        """Fill the building set (or gaps in the active one) until every chunk has a vector."""
        self._reembed = threading.Thread(target=self._reembed_loop, name="reembed", daemon=True)
        self._reembed.start()

    def _reembed_loop(self) -> None:
        try:
            while not self._stop.is_set() and embedding_sets.reembed_step(self.db, self.vectors):
                pass
        except Exception:
            log.exception("re-embedding stopped; it resumes at the next start")

    def stop(self) -> None:
        self._stop.set()
        self._imports.shutdown(wait=False, cancel_futures=True)
