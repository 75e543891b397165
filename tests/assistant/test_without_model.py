"""With no model configured (the default), answers quote the knowledge base word for word."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from chatmina.assistant.models import KnowledgeGap
from chatmina.conversations.models import Message
from chatmina.ui.context import Services
from tests.accounts.helpers import bearer
from tests.assistant.conftest import ARTICLES
from tests.conftest import Personas


@pytest.fixture
def api(client: Any, personas: Personas, help_center: dict[str, int]) -> Any:
    client.headers.update(bearer(personas.a_key))
    return client


def ask(api: Any, question: str, **extra: Any) -> dict[str, Any]:
    body = {"model": "chatmina", "messages": [{"role": "user", "content": question}], **extra}
    response = api.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_an_answer_quotes_the_best_passage_with_its_citation(api: Any, services: Services) -> None:
    answer = ask(api, "How many days do I have to request a refund?")
    text = answer["choices"][0]["message"]["content"]
    assert "within 30 days of purchase" in text and "[1]" in text
    assert "connect you with a person" in text
    assert answer["citations"][0]["title"] == "Refunds"
    assert answer["citations"][0]["url"] == "https://help.acme.test/refunds"
    assert answer["chatmina"]["outcome"] == "extractive"
    assert answer["chatmina"]["handoff_offered"] is True
    # Every quoted sentence is in the knowledge base, word for word.
    quoted = [line[2:].rsplit(" [", 1)[0] for line in text.splitlines() if line.startswith("> ")]
    assert quoted and all(any(q in body for _, body in ARTICLES.values()) for q in quoted)


def test_a_question_the_knowledge_cannot_answer_is_a_gap_not_an_invention(
    api: Any, services: Services, personas: Personas
) -> None:
    answer = ask(api, "What is the capital of Mongolia?")
    text = answer["choices"][0]["message"]["content"]
    assert "don't know" in text and "person" in text
    assert answer["citations"] == [] and answer["chatmina"]["outcome"] == "unknown"
    with services.db.read() as s:
        gaps = s.scalars(select(KnowledgeGap)).all()
        stored = s.scalars(select(Message).order_by(Message.id)).all()
    assert [g.question for g in gaps] == ["What is the capital of Mongolia?"]
    assert gaps[0].workspace_id == personas.a_id
    assert [(m.role, m.outcome) for m in stored] == [("visitor", None), ("assistant", "unknown")]


def test_another_workspaces_knowledge_is_never_quoted(api: Any) -> None:
    answer = ask(api, "Bravo internal pricing refunds cost")
    text = answer["choices"][0]["message"]["content"]
    assert "99 euros" not in text
    assert all(c["title"] != "Bravo internal pricing" for c in answer["citations"])
