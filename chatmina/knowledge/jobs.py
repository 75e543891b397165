"""Background work of the knowledge base: import jobs and re-embedding.

Imports run one at a time on a single worker thread (SQLite has one writer; two imports
at once would only take turns at it). Their progress lives in the import_jobs row, which
the UI follows, so a page reload or a second browser sees the same state. Re-embedding
after an embedder switch runs on its own thread so it never holds up an import.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from chatmina.knowledge import embedding_sets, imports
from chatmina.knowledge.embedders import EmbedderError
from chatmina.knowledge.embedding_sets import Vectors
from chatmina.storage.db import Database

if TYPE_CHECKING:  # the parsers and the HTTP client load with the first import job
    from chatmina.knowledge.parsers import ImportLimits, Source
    from chatmina.net import Allowlist

log = logging.getLogger(__name__)
REEMBED_RETRY_SECONDS = 60.0


class KnowledgeJobs:
    def __init__(self, db: Database, vectors: Vectors) -> None:
        self.db = db
        self.vectors = vectors
        self._imports = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import")
        self._stop = threading.Event()
        self._reembed: threading.Thread | None = None
        self.last_import: Future[None] | None = None  # lets tests and the CLI wait for one

    def _start(
        self,
        workspace_id: int,
        user_id: int | None,
        label: str,
        total: int,
        status: str,
        sources: Callable[[int], Iterable[Source]],
    ) -> int:
        """Create the job row now and run it on the worker thread.

        ``sources(job_id)`` is called on the worker, so fetching URLs happens there too.
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

        self.last_import = self._imports.submit(run)
        return job_id

    def start_file_import(
        self,
        workspace_id: int,
        user_id: int | None,
        files: list[tuple[str, bytes]],
        limits: ImportLimits,
        status: str,
    ) -> int:
        label = files[0][0] if len(files) == 1 else f"{len(files)} files"

        def sources(job_id: int) -> Iterator[Source]:
            from chatmina.knowledge.parsers import extract

            for name, raw in files:
                found = extract(name, raw, limits)
                # A zip, CSV or JSON file holds many articles: the progress bar counts them.
                if len(found) != 1:
                    imports.add_to_total(self.db, job_id, len(found) - 1)
                yield from found

        return self._start(workspace_id, user_id, label, len(files), status, sources)

    def start_url_import(
        self,
        workspace_id: int,
        user_id: int | None,
        url: str,
        *,
        sitemap: bool,
        limits: ImportLimits,
        allowlist: Allowlist,
        status: str,
    ) -> int:
        def sources(job_id: int) -> Iterator[Source]:
            from chatmina.knowledge.fetch import fetch_sitemap, fetch_url

            if not sitemap:
                yield from fetch_url(url, allowlist=allowlist, limits=limits)
                return
            for source in fetch_sitemap(url, allowlist=allowlist, limits=limits):
                imports.add_to_total(self.db, job_id, 1)  # pages are found as it goes
                yield source

        return self._start(workspace_id, user_id, url, 0 if sitemap else 1, status, sources)

    def start_reembedding(self) -> None:
        """Fill the building set (or gaps in the active one) until every chunk has a vector."""
        self._reembed = threading.Thread(target=self._reembed_loop, name="reembed", daemon=True)
        self._reembed.start()

    def _reembed_loop(self) -> None:
        while not self._stop.is_set():
            try:
                if not embedding_sets.reembed_step(self.db, self.vectors):
                    return
            except EmbedderError as exc:
                # The provider is down or refusing; the Knowledge page shows why. Try again.
                log.warning("re-embedding paused for %.0f s: %s", REEMBED_RETRY_SECONDS, exc)
                self._stop.wait(REEMBED_RETRY_SECONDS)
            except Exception:
                log.exception("re-embedding stopped; it resumes at the next start")
                return

    def stop(self) -> None:
        self._stop.set()
        self._imports.shutdown(wait=False, cancel_futures=True)
