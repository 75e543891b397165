"""The Knowledge pages: write with preview, edit, delete, import with progress, test search."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from chatmina.knowledge import imports, service
from tests.accounts.helpers import assert_not_500, field_error, page_text
from tests.knowledge.conftest import Kb, assert_consistent, counts


@pytest.fixture
def alice(client: Any, kb: Kb) -> Any:
    client.login("alice@example.com")
    return client


def url(kb: Kb, path: str = "") -> str:
    return f"/w/{kb.personas.a_slug}/knowledge{path}"


def test_the_list_shows_articles_stats_and_filters(alice: Any, kb: Kb) -> None:
    text = page_text(alice.get(url(kb)))
    assert "Refunds" in text and "Shipping" in text and "Resetting your password" in text
    assert "Bravo secret plan" not in text
    filtered = page_text(alice.get(url(kb), params={"status": "draft"}))
    assert "Resetting your password" in filtered and "Shipping" not in filtered
    assert "Shipping" in page_text(alice.get(url(kb), params={"tag": "orders"}))


def test_preview_renders_markdown_safely_without_saving(alice: Any, kb: Kb) -> None:
    before = counts(kb.services)
    body = "# Title\n\n**bold** <script>alert(1)</script> [x](javascript:alert(2))"
    response = alice.submit(url(kb, "/new"), {"title": "Draft", "body": body, "action": "preview"})
    assert response.status_code == 200
    assert "<strong>bold</strong>" in response.text
    assert "<script>alert(1)" not in response.text and 'href="javascript:' not in response.text
    assert "&lt;script&gt;" in response.text
    assert counts(kb.services) == before


def test_creating_editing_and_deleting_an_article(alice: Any, kb: Kb) -> None:
    created = alice.submit(
        url(kb, "/new"),
        {
            "title": "Warranty",
            "body": "# Warranty\n\nTwo years.",
            "tags": "legal, Warranty",
            "published": "1",
        },
    )
    assert created.status_code == 303
    article_id = int(created.headers["location"].rsplit("/", 1)[1])
    article, tags = service.get_article(kb.services.db, kb.personas.a_id, article_id)
    assert (article.title, article.status, tags) == ("Warranty", "published", ["legal", "warranty"])
    page = page_text(alice.get(url(kb, f"/{article_id}")))
    assert "Two years." in page and "Warranty" in page and "characters 0–" in page  # noqa: RUF001
    edited = alice.submit(
        url(kb, f"/{article_id}"), {"title": "Warranty", "body": "# Warranty\n\nThree years now."}
    )
    assert edited.status_code == 303
    assert service.get_article(kb.services.db, kb.personas.a_id, article_id)[0].status == "draft"
    assert alice.submit(url(kb, f"/{article_id}/delete")).status_code == 303
    assert alice.get(url(kb, f"/{article_id}")).status_code == 404
    assert_consistent(kb.services)


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"title": "", "body": "text"}, "title"),
        ({"title": "T", "body": ""}, "body"),
        ({"title": "T", "body": "text", "source_url": "javascript:alert(1)"}, "source_url"),
        ({"title": "T", "body": "text", "tags": "ok, <b>"}, "tags"),
    ],
)
def test_a_bad_article_form_shows_the_error_by_the_field_and_keeps_what_was_typed(
    alice: Any, kb: Kb, form: dict[str, str], field: str
) -> None:
    before = counts(kb.services)
    response = assert_not_500(alice.submit(url(kb, "/new"), form))
    assert response.status_code == 400
    assert field_error(response, field)
    if form["body"]:
        assert form["body"] in page_text(response)
    assert counts(kb.services) == before


def test_uploading_files_runs_an_import_job_with_per_file_results(alice: Any, kb: Kb) -> None:
    files = [
        ("files", ("returns.md", b"# Returns\n\nPrint the return label.", "text/markdown")),
        ("files", ("broken.pdf", b"%PDF-1.7 garbage", "application/pdf")),
    ]
    response = alice.post(
        url(kb, "/import/files"),
        data={"_csrf_token": alice.csrf(), "publish": "1"},
        files=files,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    job_url = response.headers["location"]
    job_id = int(job_url.rsplit("/", 1)[1])
    deadline = time.monotonic() + 10
    while imports.get_job(kb.services.db, kb.personas.a_id, job_id)[0].status == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    page = page_text(alice.get(job_url))
    assert "returns.md" in page and "imported" in page and "broken.pdf" in page and "failed" in page
    events = alice.get(job_url + "/events")
    assert events.headers["content-type"].startswith("text/event-stream")
    data = [json.loads(line[5:]) for line in events.text.splitlines() if line.startswith("data:")]
    assert (
        data[-1]["status"] == "finished" and data[-1]["imported"] == 1 and data[-1]["failed"] == 1
    )


def test_an_upload_without_files_or_csrf_changes_nothing(alice: Any, kb: Kb) -> None:
    before = counts(kb.services)
    empty = assert_not_500(
        alice.post(
            url(kb, "/import/files"),
            data={"_csrf_token": alice.csrf()},
            files={"other": ("a.md", b"# a")},
        )
    )
    assert empty.status_code == 400 and "Choose one or more files" in page_text(empty)
    forged = assert_not_500(alice.post(url(kb, "/import/files"), files={"files": ("a.md", b"# a")}))
    assert forged.status_code == 403
    assert counts(kb.services) == before
    assert imports.list_jobs(kb.services.db, kb.personas.a_id) == []


@pytest.mark.parametrize("bad", ["", "ftp://example.com/x", "not a url", "http://"])
def test_a_bad_url_is_refused_by_the_field(alice: Any, kb: Kb, bad: str) -> None:
    response = assert_not_500(alice.submit(url(kb, "/import/url"), {"url": bad}))
    assert response.status_code == 400 and field_error(response, "url")
    assert imports.list_jobs(kb.services.db, kb.personas.a_id) == []


def test_a_url_resolving_to_a_private_address_is_a_failed_result(alice: Any, kb: Kb) -> None:
    response = alice.submit(url(kb, "/import/url"), {"url": "http://127.0.0.1:9/help"})
    assert response.status_code == 303
    job_id = int(response.headers["location"].rsplit("/", 1)[1])
    deadline = time.monotonic() + 10
    while (job := imports.get_job(kb.services.db, kb.personas.a_id, job_id))[0].status == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    reason = job[1][0].reason.lower()
    assert job[0].failed == 1 and ("private" in reason or "loopback" in reason), reason


def test_the_test_search_page_explains_each_match(alice: Any, kb: Kb) -> None:
    page = page_text(alice.get(url(kb, "/search"), params={"q": "how do I request a refund?"}))
    assert (
        "Refunds" in page
        and "Fused score" in page
        and "Words (BM25)" in page
        and "Meaning (vectors)" in page
    )
    assert "request, refund" in page or "refund, request" in page
    drafts = page_text(
        alice.get(url(kb, "/search"), params={"q": "forgot password", "status": "draft"})
    )
    assert "Resetting your password" in drafts
    bad = alice.get(url(kb, "/search"), params={"q": "x", "mode": "magic"})
    assert bad.status_code == 400 and field_error(bad, "mode")


def test_an_agent_can_read_and_search_but_not_change_knowledge(client: Any, kb: Kb) -> None:
    client.login("bob@example.com")
    assert client.get(url(kb)).status_code == 200
    assert client.get(url(kb, f"/{kb.refunds}")).status_code == 200
    assert client.get(url(kb, "/search"), params={"q": "refund"}).status_code == 200
    before = counts(kb.services)
    for path, data in [
        ("/new", {"title": "x", "body": "y"}),
        (f"/{kb.refunds}", {"title": "x", "body": "y"}),
        (f"/{kb.refunds}/delete", {}),
        ("/import/url", {"url": "https://example.com"}),
    ]:
        assert assert_not_500(client.submit(url(kb, path), data)).status_code == 403
    assert client.get(url(kb, "/new")).status_code == 403
    assert client.get(url(kb, "/import")).status_code == 403
    assert counts(kb.services) == before


def test_a_stranger_gets_404_for_every_knowledge_page_and_action(client: Any, kb: Kb) -> None:
    client.login("charlie@example.com")
    before = counts(kb.services)
    for path in ["", "/new", f"/{kb.refunds}", "/search?q=refund", "/import"]:
        response = assert_not_500(client.get(url(kb, path)))
        assert response.status_code == 404 and "Refunds" not in response.text
    for path, data in [
        ("/new", {"title": "x", "body": "y"}),
        (f"/{kb.refunds}", {"title": "x", "body": "y"}),
        (f"/{kb.refunds}/delete", {}),
        ("/import/url", {"url": "https://example.com"}),
    ]:
        assert assert_not_500(client.submit(url(kb, path), data)).status_code == 404
    # An id of A's, reached through Charlie's own workspace B.
    b = f"/w/{kb.personas.b_slug}/knowledge"
    assert client.get(f"{b}/{kb.refunds}").status_code == 404
    assert client.submit(f"{b}/{kb.refunds}/delete").status_code == 404
    assert client.submit(f"{b}/{kb.refunds}", {"title": "Mine", "body": "now"}).status_code == 404
    assert counts(kb.services) == before
