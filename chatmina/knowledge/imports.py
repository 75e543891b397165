"""Imports: many files (or pages, or Q&A rows) into articles, with a result for each.

An import is a job row that the UI follows while it runs. Sources are processed in small
batches: parse and chunk and embed outside any transaction, then write the batch in one
transaction, so each article lands whole and the single writer is held briefly. Importing
the same content again changes nothing; changed content replaces the article's chunks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from chatmina import clock
from chatmina.errors import NotFound, UserError
from chatmina.events import Event
from chatmina.knowledge import service
from chatmina.knowledge.embedders import EmbedderError
from chatmina.knowledge.embedding_sets import Vectors
from chatmina.knowledge.models import Article, ImportJob, ImportResult
from chatmina.storage.db import Database

if TYPE_CHECKING:  # the parsers load with the first import job
    from chatmina.knowledge.parsers import Source

log = logging.getLogger(__name__)
BATCH = 64
MAX_REASON = 500


@dataclass(frozen=True)
class Outcome:
    name: str
    outcome: str  # imported | updated | skipped | failed
    reason: str = ""
    article_id: int | None = None


def _batches(sources: Iterable[Source], size: int) -> Iterator[list[Source]]:
    it = iter(sources)
    while batch := list(islice(it, size)):
        yield batch


def import_sources(
    db: Database,
    vectors: Vectors,
    workspace_id: int,
    sources: Iterable[Source],
    *,
    status: str = "published",
    job_id: int | None = None,
) -> list[Outcome]:
    """Import every source; a bad one is reported and the rest continue.

    Two stages overlap: while one batch is written (SQLite releases the GIL), the next is
    chunked and embedded on a second thread (numpy does too), which keeps both cores busy.
    """
    outcomes: list[Outcome] = []
    seen: set[str] = set()

    def write(plan: Future[_Plan]) -> None:
        outcomes.extend(_write_plan(db, vectors, workspace_id, plan.result(), job_id))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-prepare") as worker:
        previous: Future[_Plan] | None = None
        for batch in _batches(sources, BATCH):
            planned = worker.submit(_plan, db, vectors, workspace_id, batch, status, seen)
            if previous is not None:
                write(previous)
            previous = planned
        if previous is not None:
            write(previous)
    return outcomes


@dataclass
class _Plan:
    size: int
    results: dict[int, Outcome]
    changed: list[tuple[int, str, service.ArticleInput]]
    prepared: list[service.Prepared]


def _plan(
    db: Database,
    vectors: Vectors,
    workspace_id: int,
    batch: list[Source],
    status: str,
    seen: set[str],
) -> _Plan:
    """Everything but the write: validate, find what is unchanged, chunk and embed the rest."""
    results: dict[int, Outcome] = {}
    candidates: list[tuple[int, Source, service.ArticleInput]] = []
    for i, source in enumerate(batch):
        name = source.name[:1000]
        if source.document is None:
            results[i] = Outcome(name, "failed", source.error or "The file could not be read.")
            continue
        if name in seen:
            results[i] = Outcome(name, "skipped", "It appears more than once in this import.")
            continue
        seen.add(name)
        doc = source.document
        try:
            data = service.clean_article(
                service.ArticleInput(
                    title=doc.title[: service.MAX_TITLE],
                    body=doc.body,
                    source_url=doc.source_url if len(doc.source_url) <= 2000 else "",
                    tags=doc.tags,
                    status=status,
                )
            )
        except UserError as exc:
            results[i] = Outcome(name, "failed", exc.message)
            continue
        candidates.append((i, source, data))

    with db.read() as s:
        names = [source.name[:1000] for _, source, _ in candidates]
        existing = {
            origin: (article_id, digest)
            for article_id, origin, digest in s.execute(
                select(Article.id, Article.origin, Article.content_hash).where(
                    Article.workspace_id == workspace_id, Article.origin.in_(names)
                )
            )
        }
    changed: list[tuple[int, str, service.ArticleInput]] = []
    for i, source, data in candidates:
        name = source.name[:1000]
        found = existing.get(name)
        if found is not None and found[1] == service.content_hash(data):
            results[i] = Outcome(name, "skipped", "Unchanged since the last import.", found[0])
        else:
            changed.append((i, name, data))

    try:
        prepared = service.prepare(vectors, [data for _, _, data in changed])
    except EmbedderError as exc:
        # The provider is down or refusing: these files are reported, nothing is half-written,
        # and importing them again later picks them up.
        for i, name, _ in changed:
            results[i] = Outcome(name, "failed", f"Embedding failed: {exc}")
        return _Plan(len(batch), results, [], [])
    return _Plan(len(batch), results, changed, prepared)


def _write_plan(
    db: Database, vectors: Vectors, workspace_id: int, plan: _Plan, job_id: int | None
) -> list[Outcome]:
    results, changed, prepared = plan.results, plan.changed, plan.prepared
    with db.write() as s:
        # Looked up again under the write lock: another import may have added one since.
        current = {
            origin: (article_id, status)
            for article_id, origin, status in s.execute(
                select(Article.id, Article.origin, Article.status).where(
                    Article.workspace_id == workspace_id,
                    Article.origin.in_([name for _, name, _ in changed]),
                )
            )
        }
        pending: list[service.Pending] = []
        for (_, name, data), p in zip(changed, prepared, strict=True):
            found = current.get(name)
            if found is not None:
                # A re-import never changes the status an admin chose.
                p.data = service.ArticleInput(
                    data.title, data.body, data.source_url, data.tags, found[1]
                )
            pending.append(service.Pending(p, found[0] if found else None, name))
        saved = service.save_batch(s, vectors, workspace_id, pending) if pending else []
        for (i, name, _), article_id, item in zip(changed, saved, pending, strict=True):
            outcome = "imported" if item.article_id is None else "updated"
            results[i] = Outcome(name, outcome, "", article_id)
        ordered = [results[i] for i in range(plan.size)]
        if job_id is not None:
            _record(s, job_id, ordered)
    return ordered


def _record(s: Session, job_id: int, outcomes: list[Outcome]) -> None:
    s.execute(
        insert(ImportResult),
        [
            {
                "job_id": job_id,
                "name": o.name,
                "outcome": o.outcome,
                "reason": o.reason[:MAX_REASON],
                "article_id": o.article_id,
            }
            for o in outcomes
        ],
    )
    counts = {
        k: sum(o.outcome == k for o in outcomes)
        for k in ("imported", "updated", "skipped", "failed")
    }
    s.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id)
        .values(
            done=ImportJob.done + len(outcomes),
            imported=ImportJob.imported + counts["imported"],
            updated=ImportJob.updated + counts["updated"],
            skipped=ImportJob.skipped + counts["skipped"],
            failed=ImportJob.failed + counts["failed"],
        )
    )


# -- jobs -----------------------------------------------------------------------------------


def start_job(db: Database, workspace_id: int, user_id: int | None, label: str, total: int) -> int:
    with db.write() as s:
        job = ImportJob(
            workspace_id=workspace_id,
            user_id=user_id,
            label=label[:300],
            status="running",
            total=total,
            created_at=clock.now(),
        )
        s.add(job)
        s.flush()
        return job.id


def add_to_total(db: Database, job_id: int, more: int) -> None:
    with db.write() as s:
        s.execute(
            update(ImportJob).where(ImportJob.id == job_id).values(total=ImportJob.total + more)
        )


def finish_job(db: Database, job_id: int, status: str = "finished") -> None:
    """End a job and emit knowledge.import.finished (the CLI's imports too)."""
    now = clock.now()
    values: dict[str, object] = {"status": status, "finished_at": now}
    if status == "finished":
        values["total"] = ImportJob.done  # what was found is what there was
    with db.write() as s:
        s.execute(update(ImportJob).where(ImportJob.id == job_id).values(**values))
        job = s.get(ImportJob, job_id)
        if job is not None:
            counts = {k: getattr(job, k) for k in ("imported", "updated", "skipped", "failed")}
            data = {"job_id": job.id, "status": status, **counts}
            db.events.emit(s, Event("knowledge.import.finished", job.workspace_id, data, now))


def interrupt_running(db: Database) -> int:
    """At start-up: a job still "running" belongs to a process that is gone."""
    with db.write() as s:
        result = s.execute(
            update(ImportJob)
            .where(ImportJob.status == "running")
            .values(status="interrupted", finished_at=clock.now())
        )
        return int(getattr(result, "rowcount", 0) or 0)


def get_job(db: Database, workspace_id: int, job_id: int) -> tuple[ImportJob, list[ImportResult]]:
    with db.read() as s:
        job = s.get(ImportJob, job_id)
        if job is None or job.workspace_id != workspace_id:
            raise NotFound("No such import.")
        results = list(
            s.scalars(
                select(ImportResult).where(ImportResult.job_id == job_id).order_by(ImportResult.id)
            )
        )
        return job, results


def list_jobs(db: Database, workspace_id: int, limit: int = 10) -> list[ImportJob]:
    with db.read() as s:
        return list(
            s.scalars(
                select(ImportJob)
                .where(ImportJob.workspace_id == workspace_id)
                .order_by(ImportJob.created_at.desc(), ImportJob.id.desc())
                .limit(limit)
            )
        )


def job_state(job: ImportJob, results: list[ImportResult]) -> dict[str, object]:
    """A job as JSON for the live progress bar (and the CLI)."""
    return {
        "id": job.id,
        "status": job.status,
        "total": max(job.total, job.done),
        "done": job.done,
        "imported": job.imported,
        "updated": job.updated,
        "skipped": job.skipped,
        "failed": job.failed,
        "results": [
            {"name": r.name, "outcome": r.outcome, "reason": r.reason, "article_id": r.article_id}
            for r in results
        ],
    }
