"""An embeddings server that is down: every place that embeds says so clearly (503), keeps
what the admin typed, and writes nothing."""

from __future__ import annotations

import socket

import pytest

from chatmina.knowledge import embedders
from chatmina.knowledge.embedding_sets import VectorSpace
from tests.accounts.helpers import assert_problem, bearer, page_text
from tests.conftest import Browser
from tests.knowledge.conftest import Kb, counts


@pytest.fixture
def down(kb: Kb) -> Kb:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = embedders.from_config(
        {
            "kind": "openai",
            "base_url": f"http://127.0.0.1:{port}/v1",
            "api_key": "sk-test",
            "model": "text-embedding-3-small",
            "dimensions": 384,
            "timeout": 2,
        }
    )
    active = kb.services.vectors.active
    kb.services.vectors.active = VectorSpace(active.set_id, dead.spec, dead)
    return kb


def test_saving_an_article_says_the_provider_failed_and_keeps_the_text(
    down: Kb, client: Browser
) -> None:
    before = counts(down.services)
    client.login("alice@example.com")
    response = client.submit(
        f"/w/{down.personas.a_slug}/knowledge/new",
        {"title": "Warranty", "body": "Two years on every product.", "published": "1"},
    )
    assert response.status_code == 503
    page = page_text(response)
    assert "127.0.0.1" in page and "Two years on every product." in page
    assert counts(down.services) == before


def test_the_api_answers_problem_json_503_and_writes_nothing(down: Kb, client: Browser) -> None:
    before = counts(down.services)
    key = bearer(down.personas.a_key)
    created = client.post("/api/v1/articles", json={"title": "W", "body": "Text."}, headers=key)
    assert assert_problem(created, 503)["type"].endswith("problem-unavailable")
    searched = client.get("/api/v1/search", params={"q": "refund"}, headers=key)
    assert "127.0.0.1" in assert_problem(searched, 503)["detail"]
    assert counts(down.services) == before


def test_test_search_shows_the_failure_on_the_page(down: Kb, client: Browser) -> None:
    client.login("alice@example.com")
    response = client.get(f"/w/{down.personas.a_slug}/knowledge/search", params={"q": "refund"})
    assert response.status_code == 503
    assert "127.0.0.1" in page_text(response)
