"""Imports: a result per file, idempotent re-imports, and a bad file never stops the rest."""

from __future__ import annotations

import io
import zipfile

from chatmina.knowledge import imports, service
from chatmina.knowledge.parsers import ImportLimits, extract
from tests.knowledge.conftest import Kb, assert_consistent, counts


def _run(kb: Kb, files: list[tuple[str, bytes]], **kw: object) -> list[imports.Outcome]:
    sources = [s for name, data in files for s in extract(name, data, ImportLimits())]
    return imports.import_sources(
        kb.services.db, kb.services.vectors, kb.personas.a_id, sources, **kw
    )  # type: ignore[arg-type]


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


GUIDE = b"# Returns guide\n\nPack the item in its box and print the label from your account.\n"
FAQ = (
    b"question,answer\n"
    b"Do you ship abroad?,Yes: to every EU country.\n"
    b"Can I pay by invoice?,Only business customers can.\n"
)


def test_importing_the_same_files_twice_changes_nothing(kb: Kb) -> None:
    first = _run(kb, [("returns.md", GUIDE), ("faq.csv", FAQ)])
    assert [o.outcome for o in first] == ["imported", "imported", "imported"]
    snapshot = counts(kb.services)
    chunk_ids = {
        c.id
        for o in first
        for c in service.chunks_of(kb.services.db, kb.personas.a_id, o.article_id or 0)
    }
    second = _run(kb, [("returns.md", GUIDE), ("faq.csv", FAQ)])
    assert [o.outcome for o in second] == ["skipped"] * 3
    assert all("Unchanged" in o.reason for o in second)
    assert counts(kb.services) == snapshot
    assert chunk_ids == {
        c.id
        for o in second
        for c in service.chunks_of(kb.services.db, kb.personas.a_id, o.article_id or 0)
    }


def test_changed_content_is_re_chunked_in_place(kb: Kb) -> None:
    [first] = _run(kb, [("returns.md", GUIDE)])
    changed = GUIDE.replace(b"print the label", b"bring it to any post office with the QR code")
    [second] = _run(kb, [("returns.md", changed)])
    assert second.outcome == "updated" and second.article_id == first.article_id
    assert kb.search(kb.personas.a_id, "post office QR code")[0].article_id == first.article_id
    assert_consistent(kb.services)


def test_reimport_keeps_an_article_the_admin_unpublished_as_a_draft(kb: Kb) -> None:
    [first] = _run(kb, [("returns.md", GUIDE)])
    assert first.article_id is not None
    article, _tags = service.get_article(kb.services.db, kb.personas.a_id, first.article_id)
    service.update_article(
        kb.services.db,
        kb.services.vectors,
        kb.personas.a_id,
        article.id,
        service.ArticleInput(article.title, article.body, status="draft"),
    )
    [second] = _run(kb, [("returns.md", GUIDE + b"\nNew paragraph.\n")])
    assert second.outcome == "updated"
    assert (
        service.get_article(kb.services.db, kb.personas.a_id, first.article_id)[0].status == "draft"
    )


def test_a_bad_file_is_reported_and_the_others_are_imported(kb: Kb) -> None:
    files = [
        ("good.md", GUIDE),
        ("empty.txt", b""),
        ("binary.txt", bytes(range(256)) * 40),
        ("notes.exe", b"MZ\x90\x00"),
        (
            "help.zip",
            _zip(
                {
                    "a.md": b"# A\n\nAlpha article.",
                    "../../evil.md": b"# Evil",
                    "b.txt": b"Beta text.",
                }
            ),
        ),
    ]
    outcomes = _run(kb, files)
    by_name = {o.name: o for o in outcomes}
    assert by_name["good.md"].outcome == "imported"
    assert by_name["empty.txt"].outcome == "failed" and by_name["empty.txt"].reason
    assert by_name["binary.txt"].outcome == "failed" and by_name["binary.txt"].reason
    assert by_name["notes.exe"].outcome == "failed" and ".md" in by_name["notes.exe"].reason
    zipped = [o for o in outcomes if o.name.startswith("help.zip")]
    assert sorted(o.outcome for o in zipped) == ["failed", "imported", "imported"]
    assert_consistent(kb.services)


def test_the_same_name_twice_in_one_import_is_skipped_once(kb: Kb) -> None:
    outcomes = _run(kb, [("a.md", GUIDE), ("a.md", GUIDE + b"\nMore.")])
    assert [o.outcome for o in outcomes] == ["imported", "skipped"]
    assert "more than once" in outcomes[1].reason


def test_a_job_counts_every_outcome_and_keeps_each_result(kb: Kb) -> None:
    db, ws = kb.services.db, kb.personas.a_id
    job_id = imports.start_job(db, ws, kb.personas.alice_id, "2 files", 2)
    _run(kb, [("good.md", GUIDE), ("empty.md", b"")], job_id=job_id)
    imports.finish_job(db, job_id)
    job, results = imports.get_job(db, ws, job_id)
    assert (job.status, job.done, job.imported, job.failed) == ("finished", 2, 1, 1)
    assert [(r.name, r.outcome) for r in results] == [
        ("good.md", "imported"),
        ("empty.md", "failed"),
    ]
    state = imports.job_state(job, results)
    assert state["total"] == 2 and state["results"][1]["reason"]  # type: ignore[index]


def test_a_job_left_running_by_a_dead_process_is_marked_interrupted(kb: Kb) -> None:
    job_id = imports.start_job(kb.services.db, kb.personas.a_id, None, "x", 3)
    assert imports.interrupt_running(kb.services.db) == 1
    assert imports.get_job(kb.services.db, kb.personas.a_id, job_id)[0].status == "interrupted"


def test_drafts_option_imports_new_articles_as_drafts(kb: Kb) -> None:
    [o] = _run(kb, [("returns.md", GUIDE)], status="draft")
    assert o.article_id is not None
    assert service.get_article(kb.services.db, kb.personas.a_id, o.article_id)[0].status == "draft"
