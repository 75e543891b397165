"""The knowledge-base quality benchmark's data and scoring: metrics with known answers,
and the labelled questions checked against the documentation collection."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.perf.kb_quality import corpus
from tests.perf.kb_quality.metrics import (
    MRR_DEPTH,
    Question,
    dedupe_documents,
    evaluate,
    load_questions,
)

needs_collection = pytest.mark.skipif(
    not corpus.installed(), reason=f"{corpus.PACKAGE} is not installed ({corpus.INSTALL_HINT})"
)

QUESTIONS = [
    Question(q="first hit", docs=["a.html"]),
    Question(q="third hit", docs=["c.html"]),
    Question(q="either one", docs=["x.html", "b.html"]),
    Question(q="seventh hit", docs=["g.html"]),
    Question(q="nowhere", docs=["zzz.html"]),
]
RANKED = [f"{letter}.html" for letter in "abcdefghijkl"]


def ranked_search(question: str, k: int) -> list[str]:
    return RANKED[:k]


def test_it_scores_a_search_with_known_ranks() -> None:
    # First answers at ranks 1, 3, 2, 7 and none: 3 of 5 in the top 5.
    scores = evaluate(ranked_search, QUESTIONS)
    assert scores["n"] == 5
    assert scores["recall@5"] == pytest.approx(3 / 5)
    assert scores["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 2 + 1 / 7) / 5)


def test_it_names_recall_after_k_and_counts_ranks_within_k() -> None:
    scores = evaluate(ranked_search, QUESTIONS, k=2)
    assert set(scores) == {"recall@2", "mrr", "n"}
    assert scores["recall@2"] == pytest.approx(2 / 5)


def test_it_asks_for_enough_results_to_rank_ten_deep() -> None:
    asked: list[int] = []

    def search(question: str, k: int) -> list[str]:
        asked.append(k)
        return RANKED[:k]

    evaluate(search, QUESTIONS, k=5)
    assert set(asked) == {MRR_DEPTH}


def test_it_ignores_results_past_the_mrr_depth() -> None:
    def too_many(question: str, k: int) -> list[str]:
        return [f"filler-{i}.html" for i in range(MRR_DEPTH)] + ["a.html"]

    scores = evaluate(too_many, [Question(q="late", docs=["a.html"])])
    assert scores == {"recall@5": 0.0, "mrr": 0.0, "n": 1}


def test_a_repeated_document_does_not_push_answers_down() -> None:
    def repeats(question: str, k: int) -> list[str]:
        return ["b.html", "b.html", "b.html", "b.html", "b.html", "a.html"]

    scores = evaluate(repeats, [Question(q="dup", docs=["a.html"])])
    assert scores["recall@5"] == 1.0
    assert scores["mrr"] == pytest.approx(1 / 2)


def test_it_refuses_to_score_nothing() -> None:
    with pytest.raises(ValueError, match="no questions"):
        evaluate(ranked_search, [])


def test_dedupe_keeps_each_document_at_its_best_rank() -> None:
    hits = ["b.html", "a.html", "b.html", "c.html", "a.html"]
    assert dedupe_documents(hits) == ["b.html", "a.html", "c.html"]
    assert dedupe_documents(iter([])) == []


def test_a_malformed_question_line_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "questions.jsonl"
    path.write_text('{"q": "fine", "docs": ["a.html"]}\n{"q": "no docs"}\n')
    with pytest.raises(ValueError, match="line 2"):
        load_questions(path)
    path.write_text('{"q": "fine", "docs": []}\n')
    with pytest.raises(ValueError, match="line 1"):
        load_questions(path)


def test_the_question_file_is_clean_json_lines() -> None:
    for line in (Path(corpus.__file__).with_name("questions.jsonl")).read_text().splitlines():
        record = json.loads(line)
        assert set(record) == {"q", "docs"}, line


def test_there_are_at_least_200_distinct_questions_spread_over_60_documents() -> None:
    questions = load_questions()
    distinct = {" ".join(q["q"].lower().split()) for q in questions}
    assert len(distinct) == len(questions) >= 200
    assert all(q["docs"] and len(set(q["docs"])) == len(q["docs"]) for q in questions)
    assert len({d for q in questions for d in q["docs"]}) >= 60


class _PageText(HTMLParser):
    """The words a reader sees: text outside <style> and <script>, entities decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


@pytest.fixture(scope="module")
def page_texts() -> dict[str, str]:
    texts = {}
    for name, raw in corpus.documents():
        parser = _PageText()
        parser.feed(raw.decode("utf-8"))
        texts[name] = _normalise(" ".join(parser.parts))
    return texts


@needs_collection
def test_the_collection_is_a_help_center_sized_set_of_articles(
    page_texts: dict[str, str],
) -> None:
    names = list(page_texts)
    assert names == sorted(names)
    assert 80 <= len(names) <= 400
    assert not corpus.NOT_ARTICLES & set(names)
    assert all(len(text) > 200 for text in page_texts.values())


@needs_collection
def test_every_labelled_document_is_in_the_collection(page_texts: dict[str, str]) -> None:
    missing = {d for q in load_questions() for d in q["docs"]} - set(page_texts)
    assert not missing


@needs_collection
def test_no_question_is_copied_from_its_documents(page_texts: dict[str, str]) -> None:
    copied = [
        (q["q"], doc)
        for q in load_questions()
        for doc in q["docs"]
        if _normalise(q["q"]).rstrip("?.! ") in page_texts.get(doc, "")
    ]
    assert not copied
