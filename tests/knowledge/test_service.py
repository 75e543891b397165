"""Articles in, ranked chunks out: the write path is all-or-nothing, search is hybrid,
filters and workspaces hold."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from chatmina.accounts import service as accounts
from chatmina.errors import NotFound, UserError
from chatmina.knowledge import index, service
from tests.knowledge.conftest import Kb, assert_consistent, counts


def test_an_article_is_chunked_by_section_with_heading_paths_and_offsets(kb: Kb) -> None:
    chunks = service.chunks_of(kb.services.db, kb.personas.a_id, kb.refunds)
    article, tags = service.get_article(kb.services.db, kb.personas.a_id, kb.refunds)
    assert tags == ["billing"]
    assert len(chunks) >= 2
    for chunk in chunks:
        assert article.body[chunk.start_offset : chunk.end_offset] == chunk.text
    paths = [c.heading_path.split(index.HEADING_SEPARATOR) for c in chunks]
    assert ["Refunds", "How to request a refund"] in paths
    assert_consistent(kb.services)


def test_hybrid_search_finds_the_section_and_reports_both_scores(kb: Kb) -> None:
    hits = kb.search(kb.personas.a_id, "how do I get my money back for an order?")
    assert hits, "nothing found"
    best = hits[0]
    assert best.title == "Refunds"
    assert best.source_url == "https://help.acme.test/refunds"
    assert best.similarity is not None and best.vector_rank is not None
    words = kb.search(kb.personas.a_id, "refund request")[0]
    assert words.bm25 is not None and words.bm25 > 0 and words.bm25_rank == 1
    assert "refund" in words.matched_terms
    assert words.heading_path[0] == "Refunds"


def test_text_and_vector_modes_use_one_side_only(kb: Kb) -> None:
    text_only = kb.search(kb.personas.a_id, "express delivery", mode="text")
    assert text_only[0].title == "Shipping"
    assert all(h.similarity is None for h in text_only)
    vector_only = kb.search(kb.personas.a_id, "express delivery", mode="vector")
    assert vector_only[0].title == "Shipping"
    assert all(h.bm25 is None for h in vector_only)


def test_drafts_are_not_searched_unless_asked_for(kb: Kb) -> None:
    assert all(
        h.title != "Resetting your password" for h in kb.search(kb.personas.a_id, "forgot password")
    )
    drafts = kb.search(kb.personas.a_id, "forgot password", status="draft")
    assert [h.title for h in drafts] == ["Resetting your password"]
    everything = kb.search(kb.personas.a_id, "forgot password", status=None)
    assert everything[0].title == "Resetting your password"


def test_tag_filter_keeps_only_articles_with_every_tag(kb: Kb) -> None:
    hits = kb.search(kb.personas.a_id, "days", tags=["billing"])
    assert hits and {h.title for h in hits} == {"Refunds"}
    assert kb.search(kb.personas.a_id, "days", tags=["billing", "orders"]) == []


def test_search_never_crosses_workspaces(kb: Kb) -> None:
    for mode in ("hybrid", "text", "vector"):
        for q in ("pineapple launch code word", "refund"):
            a_titles = {h.title for h in kb.search(kb.personas.a_id, q, mode=mode, status=None)}
            b_titles = {h.title for h in kb.search(kb.personas.b_id, q, mode=mode, status=None)}
            assert "Bravo secret plan" not in a_titles
            assert b_titles <= {"Bravo secret plan"}


def test_search_text_is_never_read_as_query_syntax(kb: Kb) -> None:
    for q in ['"unbalanced', "refund OR", "NEAR(", "title:refund", "*", "-", "AND AND", "scope:w1"]:
        kb.search(kb.personas.a_id, q)  # no FTS5 syntax error escapes


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"query": "   "}, "q"),
        ({"query": "x" * 2001}, "q"),
        ({"query": "refund", "mode": "magic"}, "mode"),
        ({"query": "refund", "limit": 0}, "limit"),
        ({"query": "refund", "status": "deleted"}, "status"),
        ({"query": "refund", "tags": ["<script>"]}, "tags"),
    ],
)
def test_bad_search_input_is_a_clear_error(kb: Kb, kwargs: dict[str, object], field: str) -> None:
    query = kwargs.pop("query")
    with pytest.raises(UserError) as exc:
        service.search(kb.services.db, kb.services.vectors, kb.personas.a_id, str(query), **kwargs)  # type: ignore[arg-type]
    assert exc.value.field == field and exc.value.message


def test_editing_the_text_replaces_every_chunk_and_its_index_rows(kb: Kb) -> None:
    before = {c.id for c in service.chunks_of(kb.services.db, kb.personas.a_id, kb.shipping)}
    service.update_article(
        kb.services.db,
        kb.services.vectors,
        kb.personas.a_id,
        kb.shipping,
        service.ArticleInput(
            "Shipping", "# Shipping\n\nWe now ship worldwide by sea freight.", tags=("orders",)
        ),
    )
    after = {c.id for c in service.chunks_of(kb.services.db, kb.personas.a_id, kb.shipping)}
    assert before.isdisjoint(after)
    assert kb.search(kb.personas.a_id, "sea freight")[0].title == "Shipping"
    assert all(
        "Express" not in h.text for h in kb.search(kb.personas.a_id, "express delivery noon")
    )
    assert_consistent(kb.services)


def test_publishing_a_draft_rescopes_it_without_re_embedding(kb: Kb) -> None:
    before = [c.id for c in service.chunks_of(kb.services.db, kb.personas.a_id, kb.reset_draft)]
    service.update_article(
        kb.services.db,
        kb.services.vectors,
        kb.personas.a_id,
        kb.reset_draft,
        service.ArticleInput(
            "Resetting your password",
            service.get_article(kb.services.db, kb.personas.a_id, kb.reset_draft)[0].body,
            status="published",
        ),
    )
    assert [
        c.id for c in service.chunks_of(kb.services.db, kb.personas.a_id, kb.reset_draft)
    ] == before
    for mode in ("text", "vector"):
        assert (
            kb.search(kb.personas.a_id, "forgot password link", mode=mode)[0].title
            == "Resetting your password"
        )
    assert_consistent(kb.services)


def test_deleting_an_article_removes_it_from_both_indexes(kb: Kb) -> None:
    service.delete_article(kb.services.db, kb.personas.a_id, kb.refunds)
    assert all(h.title != "Refunds" for h in kb.search(kb.personas.a_id, "refund", status=None))
    assert counts(kb.services, kb.personas.a_id)["tags"] == 1
    assert_consistent(kb.services)


def test_deleting_a_workspace_leaves_nothing_searchable_behind(kb: Kb) -> None:
    accounts.delete_workspace(kb.services.db, kb.personas.b_id, kb.personas.b_slug)
    assert counts(kb.services, kb.personas.b_id) == {
        "articles": 0,
        "tags": 0,
        "chunks": 0,
        "fulltext": 0,
        "vectors": 0,
        "float_vectors": 0,
    }
    assert_consistent(kb.services)


def test_an_article_of_another_workspace_is_not_found(kb: Kb) -> None:
    with pytest.raises(NotFound):
        service.get_article(kb.services.db, kb.personas.b_id, kb.refunds)
    with pytest.raises(NotFound):
        service.delete_article(kb.services.db, kb.personas.b_id, kb.refunds)
    with pytest.raises(NotFound):
        service.update_article(
            kb.services.db,
            kb.services.vectors,
            kb.personas.b_id,
            kb.refunds,
            service.ArticleInput("x", "y"),
        )
    assert service.get_article(kb.services.db, kb.personas.a_id, kb.refunds)[0].title == "Refunds"


def test_a_failure_while_indexing_writes_nothing_at_all(kb: Kb) -> None:
    """The article, its tags, chunks, full-text rows and vectors commit together or not at all."""
    before = counts(kb.services)
    # The float vectors are the last rows written: failing there proves the earlier ones
    # (article, tags, chunks, full-text, quantized vectors) are rolled back with them.
    with kb.services.db.engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER fail_vectors BEFORE INSERT ON chunk_vectors "
            "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    try:
        with pytest.raises(Exception, match="disk full"):
            kb.add(
                kb.personas.a_id,
                "Half written",
                "# Half\n\nThis must never be half indexed.",
                tags=("x",),
            )
    finally:
        with kb.services.db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER fail_vectors")
    with kb.services.db.engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM articles WHERE title = 'Half written'")
            ).scalar()
            == 0
        )
    assert counts(kb.services) == before


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (service.ArticleInput("", "body"), "title"),
        (service.ArticleInput("x" * 301, "body"), "title"),
        (service.ArticleInput("Title", "  \n "), "body"),
        (service.ArticleInput("Title", "body", source_url="javascript:alert(1)"), "source_url"),
        (service.ArticleInput("Title", "body", source_url="ftp://example.com/x"), "source_url"),
        (service.ArticleInput("Title", "body", tags=("a" * 51,)), "tags"),
        (service.ArticleInput("Title", "body", tags=tuple(f"t{i}" for i in range(21))), "tags"),
        (service.ArticleInput("Title", "body", status="archived"), "status"),
    ],
)
def test_bad_article_input_is_refused_with_the_field_and_nothing_is_written(
    kb: Kb, data: service.ArticleInput, field: str
) -> None:
    before = counts(kb.services)
    with pytest.raises(UserError) as exc:
        service.create_article(kb.services.db, kb.services.vectors, kb.personas.a_id, data)
    assert exc.value.field == field
    assert counts(kb.services) == before


def test_listing_filters_searches_and_paginates(kb: Kb) -> None:
    db, ws = kb.services.db, kb.personas.a_id
    for i in range(30):
        kb.add(ws, f"Note {i:02d}", f"Body number {i}.")
    page1 = service.list_articles(db, ws, per_page=10)
    assert page1.total == 33 and page1.pages == 4 and len(page1.articles) == 10
    assert service.list_articles(db, ws, per_page=10, page=4).articles
    assert [a.title for a in service.list_articles(db, ws, q="refund").articles] == ["Refunds"]
    assert [a.title for a in service.list_articles(db, ws, status="draft").articles] == [
        "Resetting your password"
    ]
    assert [a.title for a in service.list_articles(db, ws, tag="orders").articles] == ["Shipping"]
    assert service.list_articles(db, ws, q="100%_").total == 0  # LIKE wildcards are literal
    assert service.list_articles(kb.services.db, kb.personas.b_id).total == 1
