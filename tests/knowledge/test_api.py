"""/api/v1/articles, /api/v1/search and /api/v1/imports with a workspace API key."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.accounts.helpers import assert_problem, bearer
from tests.knowledge.conftest import Kb, assert_consistent, counts


@pytest.fixture
def api(client: Any, kb: Kb) -> Any:
    client.headers.update(bearer(kb.personas.a_key))
    return client


def test_create_read_update_delete_an_article(api: Any, kb: Kb) -> None:
    created = api.post(
        "/api/v1/articles",
        json={
            "title": "Gift cards",
            "body": "# Gift cards\n\nThey never expire.",
            "tags": ["Billing"],
        },
    )
    assert created.status_code == 201, created.text
    article = created.json()
    assert (
        article["tags"] == ["billing"]
        and article["status"] == "published"
        and article["chunks"] >= 1
    )
    got = api.get(f"/api/v1/articles/{article['id']}").json()
    assert got["body"].startswith("# Gift cards")
    patched = api.patch(f"/api/v1/articles/{article['id']}", json={"status": "draft"}).json()
    assert (
        patched["status"] == "draft"
        and patched["title"] == "Gift cards"
        and patched["tags"] == ["billing"]
    )
    assert api.delete(f"/api/v1/articles/{article['id']}").status_code == 204
    assert_problem(api.get(f"/api/v1/articles/{article['id']}"), 404)
    assert_consistent(kb.services)


def test_listing_searches_filters_and_paginates(api: Any, kb: Kb) -> None:
    body = api.get("/api/v1/articles", params={"per_page": 2}).json()
    assert body["total"] == 3 and len(body["items"]) == 2 and body["page"] == 1
    assert [
        a["title"] for a in api.get("/api/v1/articles", params={"q": "refund"}).json()["items"]
    ] == ["Refunds"]
    drafts = api.get("/api/v1/articles", params={"status": "draft"}).json()["items"]
    assert [a["title"] for a in drafts] == ["Resetting your password"]


def test_search_returns_ranked_chunks_with_both_scores_and_citations(api: Any) -> None:
    hits = api.get("/api/v1/search", params={"q": "refund request billing"}).json()
    assert hits[0]["title"] == "Refunds"
    assert hits[0]["source_url"] == "https://help.acme.test/refunds"
    assert hits[0]["heading_path"][0] == "Refunds"
    assert hits[0]["bm25"] is not None and hits[0]["similarity"] is not None
    assert hits[0]["end"] > hits[0]["start"]


def test_import_files_through_the_api_and_poll_the_job(api: Any, kb: Kb) -> None:
    files = [
        ("files", ("returns.md", b"# Returns\n\nPrint the label.", "text/markdown")),
        ("files", ("empty.txt", b"", "text/plain")),
    ]
    started = api.post("/api/v1/imports", files=files)
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    deadline = time.monotonic() + 10
    while (job := api.get(f"/api/v1/imports/{job_id}").json())["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert job["status"] == "finished" and job["imported"] == 1 and job["failed"] == 1
    assert {r["name"]: r["outcome"] for r in job["results"]} == {
        "returns.md": "imported",
        "empty.txt": "failed",
    }


@pytest.mark.parametrize(
    ("method", "path", "payload", "status"),
    [
        ("post", "/api/v1/articles", {"title": "", "body": "x"}, 400),
        ("post", "/api/v1/articles", {"title": "x"}, 400),
        ("post", "/api/v1/articles", {"title": "x", "body": "y", "status": "archived"}, 400),
        (
            "post",
            "/api/v1/articles",
            {"title": "x", "body": "y", "source_url": "javascript:alert(1)"},
            400,
        ),
        ("post", "/api/v1/articles", {"title": "x", "body": "y", "tags": ["ok", "<bad>"]}, 400),
        ("post", "/api/v1/articles", {"title": "x", "body": "y", "unknown": 1}, 400),
        ("post", "/api/v1/articles", "not json", 400),
        ("patch", "/api/v1/articles/{refunds}", {"title": None}, 400),
        ("patch", "/api/v1/articles/{refunds}", {"body": "   "}, 400),
        ("get", "/api/v1/articles/99999999999999999999", None, 400),
        ("get", "/api/v1/articles/424242", None, 404),
        ("get", "/api/v1/articles?page=0", None, 400),
        ("get", "/api/v1/articles?per_page=1000", None, 400),
        ("get", "/api/v1/search", None, 400),
        ("get", "/api/v1/search?q=refund&mode=magic", None, 400),
        ("get", "/api/v1/search?q=refund&limit=500", None, 400),
        ("post", "/api/v1/imports", None, 400),
    ],
)
def test_bad_api_input_gets_problem_json_and_changes_nothing(
    api: Any, kb: Kb, method: str, path: str, payload: Any, status: int
) -> None:
    before = counts(kb.services)
    url = path.format(refunds=kb.refunds)
    if isinstance(payload, str):
        response = api.request(
            method, url, content=payload, headers={"content-type": "application/json"}
        )
    elif method == "post" and "imports" in url:
        response = api.post(url, files={"other": ("x.md", b"# x")})
    else:
        response = api.request(method, url, json=payload)
    assert_problem(response, status)
    assert counts(kb.services) == before


def test_the_api_needs_a_key_and_never_shows_another_workspace(client: Any, kb: Kb) -> None:
    assert_problem(client.get("/api/v1/articles"), 401)
    other = bearer(kb.personas.b_key)
    assert_problem(client.get(f"/api/v1/articles/{kb.refunds}", headers=other), 404)
    assert_problem(client.delete(f"/api/v1/articles/{kb.refunds}", headers=other), 404)
    assert_problem(
        client.patch(f"/api/v1/articles/{kb.refunds}", json={"title": "Mine"}, headers=other), 404
    )
    listed = client.get("/api/v1/articles", headers=other).json()
    assert [a["title"] for a in listed["items"]] == ["Bravo secret plan"]
    found = client.get(
        "/api/v1/search", params={"q": "refund", "status": "any"}, headers=other
    ).json()
    assert all(h["title"] == "Bravo secret plan" for h in found)
    assert counts(kb.services, kb.personas.a_id)["articles"] == 3


def test_the_knowledge_api_is_in_the_openapi_document(client: Any) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    for path in (
        "/api/v1/articles",
        "/api/v1/articles/{article_id}",
        "/api/v1/search",
        "/api/v1/imports",
        "/api/v1/imports/{job_id}",
    ):
        assert path in paths, path
    assert set(paths["/api/v1/articles/{article_id}"]) >= {"get", "patch", "delete"}
