"""Scoring a knowledge-base search against the labelled questions.

A search is any ``search(question, k) -> [document name, ...]``, best first, with each
document at most once (``dedupe_documents`` turns ranked chunk hits into that list).

- ``recall@k``: the share of questions with at least one labelled document in the first
  ``k`` results. A question's documents are alternatives (each one answers it), so one
  found is the question answered.
- ``mrr``: mean reciprocal rank of the first labelled document within the first
  ``MRR_DEPTH`` (10) results; a question with none there counts 0.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypedDict

QUESTIONS_FILE = Path(__file__).with_name("questions.jsonl")
MRR_DEPTH = 10


class Question(TypedDict):
    q: str
    docs: list[str]


Search = Callable[[str, int], list[str]]


def load_questions(path: Path = QUESTIONS_FILE) -> list[Question]:
    """The labelled questions, in file order; a malformed line names its line number."""
    questions: list[Question] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            question = Question(q=str(record["q"]), docs=[str(d) for d in record["docs"]])
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path.name} line {number}: {error}") from None
        if not question["q"].strip() or not question["docs"]:
            raise ValueError(f"{path.name} line {number}: needs a question and documents")
        questions.append(question)
    return questions


def dedupe_documents(chunk_hits: Iterable[str]) -> list[str]:
    """Document names in order of their first (best-ranked) hit."""
    return list(dict.fromkeys(chunk_hits))


def first_answer_rank(ranked: Sequence[str], answers: Iterable[str]) -> int | None:
    """1-based rank of the first answering document, or None when there is none."""
    wanted = set(answers)
    for rank, name in enumerate(ranked, start=1):
        if name in wanted:
            return rank
    return None


def evaluate(search: Search, questions: Sequence[Question], k: int = 5) -> dict[str, float]:
    """{"recall@<k>": ..., "mrr": ..., "n": ...} for ``search`` over ``questions``."""
    if not questions:
        raise ValueError("no questions to evaluate")
    if k < 1:
        raise ValueError("k must be at least 1")
    depth = max(k, MRR_DEPTH)
    found = 0
    reciprocal_ranks = 0.0
    for question in questions:
        # De-duplicating again is harmless and keeps a repeated document from pushing
        # the real answers down the list.
        ranked = dedupe_documents(search(question["q"], depth))[:depth]
        rank = first_answer_rank(ranked, question["docs"])
        if rank is None:
            continue
        found += rank <= k
        if rank <= MRR_DEPTH:
            reciprocal_ranks += 1 / rank
    n = len(questions)
    return {f"recall@{k}": found / n, "mrr": reciprocal_ranks / n, "n": n}
