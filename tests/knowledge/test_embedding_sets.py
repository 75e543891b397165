"""Switching embedder: the new vectors are built in the background while search keeps using
the old ones, then one transaction switches over. The new embedder here is the OpenAI path,
through the real openai client, against the local fake OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from chatmina.knowledge import embedders, embedding_sets, index, service
from chatmina.knowledge.models import EmbeddingSet
from tests.accounts.helpers import page_text
from tests.conftest import Browser
from tests.fakes.openai_server import FakeOpenAI
from tests.knowledge.conftest import Kb, assert_consistent


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-test", dimensions=64) as server:
        yield server


def _openai(fake: FakeOpenAI) -> embedders.Embedder:
    return embedders.from_config(
        {
            "kind": "openai",
            "base_url": fake.base_url,
            "api_key": "sk-test",
            "model": "text-embedding-3-small",
            "dimensions": 64,
        }
    )


def _tables(kb: Kb) -> set[str]:
    with kb.services.db.engine.connect() as conn:
        return {
            r[0]
            for r in conn.execute(
                text(
                    "SELECT name FROM sqlite_master "
                    "WHERE name LIKE 'chunk_vec_%' AND type = 'table'"
                )
            )
        }


def test_switching_embedder_rebuilds_in_the_background_and_then_switches(
    kb: Kb, fake: FakeOpenAI
) -> None:
    db, keys = kb.services.db, kb.services.keys
    old_set = kb.services.vectors.active.set_id
    vectors = embedding_sets.prepare(db, keys, _openai(fake))
    assert vectors.active.set_id == old_set and vectors.building is not None
    new_set = vectors.building.set_id

    # While building: search answers from the old vectors, and new articles still land whole.
    assert service.search(db, vectors, kb.personas.a_id, "refund request")[0].title == "Refunds"
    service.create_article(
        db,
        vectors,
        kb.personas.a_id,
        service.ArticleInput("Late", "# Late\n\nWritten during the rebuild."),
    )
    assert embedding_sets.reembed_step(db, vectors, batch=2)
    progress = embedding_sets.progress(db, vectors)
    assert progress is not None and 0 < progress.done < progress.total
    while embedding_sets.reembed_step(db, vectors, batch=2):
        pass

    assert vectors.building is None and vectors.active.set_id == new_set
    assert embedding_sets.progress(db, vectors) is None
    assert index.vector_table(old_set) not in _tables(kb) and index.vector_table(
        new_set
    ) in _tables(kb)
    with db.read() as s:
        assert {r.id: r.status for r in s.query(EmbeddingSet)} == {
            old_set: "retired",
            new_set: "active",
        }
    kb.services.vectors = vectors
    assert_consistent(kb.services)
    hits = service.search(
        db, vectors, kb.personas.a_id, "Written during the rebuild", mode="vector", status=None
    )
    assert hits and hits[0].similarity is not None
    assert any(r.path == "/v1/embeddings" for r in fake.requests)


def test_a_restart_resumes_the_same_build_and_switching_back_cancels_it(
    kb: Kb, fake: FakeOpenAI
) -> None:
    db, keys = kb.services.db, kb.services.keys
    first = embedding_sets.prepare(db, keys, _openai(fake))
    assert first.building is not None
    embedding_sets.reembed_step(db, first, batch=1)
    again = embedding_sets.prepare(db, keys, _openai(fake))  # the server restarted
    assert again.building is not None and again.building.set_id == first.building.set_id
    back = embedding_sets.prepare(db, keys, kb.services.vectors.active.embedder)  # switched back
    assert back.building is None and back.active.set_id == kb.services.vectors.active.set_id
    assert index.vector_table(first.building.set_id) not in _tables(kb)


def test_the_stored_embedder_config_is_encrypted(kb: Kb, fake: FakeOpenAI) -> None:
    embedding_sets.prepare(kb.services.db, kb.services.keys, _openai(fake))
    with kb.services.db.read() as s:
        stored = [r.config_encrypted for r in s.query(EmbeddingSet)]
    assert stored and all("sk-test" not in c and "text-embedding" not in c for c in stored)


def test_an_unreachable_new_provider_leaves_search_on_the_old_vectors(
    kb: Kb, fake: FakeOpenAI
) -> None:
    db, keys = kb.services.db, kb.services.keys
    vectors = embedding_sets.prepare(db, keys, _openai(fake))
    fake.stop()
    with pytest.raises(embedders.EmbedderError):
        embedding_sets.reembed_step(db, vectors)
    assert vectors.building is not None
    paused = embedding_sets.progress(db, vectors)
    assert paused is not None and "127.0.0.1" in paused.error  # the admin sees why
    assert service.search(db, vectors, kb.personas.a_id, "refund request")[0].title == "Refunds"


def test_the_knowledge_page_shows_re_embedding_progress(
    kb: Kb, fake: FakeOpenAI, client: Browser
) -> None:
    db, keys = kb.services.db, kb.services.keys
    vectors = embedding_sets.prepare(db, keys, _openai(fake))
    embedding_sets.reembed_step(db, vectors, batch=2)
    kb.services.vectors.active, kb.services.vectors.building = vectors.active, vectors.building
    client.login("alice@example.com")
    page = page_text(client.get(f"/w/{kb.personas.a_slug}/knowledge"))
    assert "Re-embedding for openai:text-embedding-3-small" in page
    progress = embedding_sets.progress(db, vectors)
    assert progress is not None
    assert f"{progress.done} of {progress.total} chunks" in page
    assert "Search keeps using the current vectors" in page
