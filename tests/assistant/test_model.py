"""Answers from a configured model: prompts, streaming, citations, what is stored.

The model is the fake OpenAI-compatible server over real HTTP; Chatmina's own endpoint is
exercised with the official ``openai`` client against a real port.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest
from sqlalchemy import select

from chatmina.assistant.models import KnowledgeGap
from chatmina.conversations.models import Message
from chatmina.ui.context import Services
from tests.assistant.conftest import configure_model
from tests.conftest import Personas
from tests.fakes.openai_server import FakeOpenAI, Say, stream_tokens

QUESTION = "How do I request a refund?"
ANSWER = "Open Billing, choose the order and press Request refund [1]. It takes five days [1]."


@pytest.fixture
def client_a(live: str, personas: Personas) -> openai.OpenAI:
    return openai.OpenAI(base_url=live + "/v1", api_key=personas.a_key, max_retries=0)


def stored(services: Services) -> list[Message]:
    with services.db.read() as s:
        return list(s.scalars(select(Message).order_by(Message.id)).all())


def test_the_official_client_streams_a_cited_answer(
    client_a: openai.OpenAI, model: FakeOpenAI, services: Services
) -> None:
    model.script(Say(ANSWER))
    model.tokens_per_second = 10  # tokens 100 ms apart: each is relayed on its own
    stream = client_a.chat.completions.create(
        model="chatmina",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, last, usage = [], None, None
    for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            if chunk.choices[0].finish_reason:
                last = chunk
        if chunk.usage:
            usage = chunk.usage
    assert "".join(pieces) == ANSWER
    # Streamed as the model streamed it, not held back until the end.
    assert len([p for p in pieces if p]) == len(stream_tokens(ANSWER))
    assert last is not None and last.model_extra is not None
    citations = last.model_extra["citations"]
    assert [(c["n"], c["title"], c["url"]) for c in citations] == [
        (1, "Refunds", "https://help.acme.test/refunds")
    ]
    assert last.model_extra["chatmina"]["outcome"] == "answered"
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0

    question, answer = stored(services)
    assert (question.role, question.content) == ("visitor", QUESTION)
    assert answer.role == "assistant" and answer.content == ANSWER
    assert answer.model == "gpt-4o-mini" and answer.outcome == "answered"
    assert answer.usage == {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
    }
    assert answer.timings is not None
    assert {"prepare_ms", "search_ms", "first_token_ms", "total_ms"} <= answer.timings.keys()
    assert answer.sources and answer.sources[0]["cited"] is True
    assert {"relevance", "score", "bm25", "similarity"} <= answer.sources[0].keys()


def test_tokens_arriving_close_together_are_relayed_in_batches(
    client_a: openai.OpenAI, model: FakeOpenAI
) -> None:
    words = " ".join(f"word{i}" for i in range(40))
    model.script(Say(words))
    model.tokens_per_second = 100  # 10 ms apart; relayed at most every 50 ms after the first
    stream = client_a.chat.completions.create(
        model="chatmina", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    pieces = [
        c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content
    ]
    assert "".join(pieces) == words
    assert pieces[0] == "word0 "  # the first token is never held back
    assert 4 <= len(pieces) <= 20  # ~0.4 s of tokens in ~50 ms batches, not 40 writes


def test_the_official_client_gets_a_whole_answer_without_streaming(
    client_a: openai.OpenAI, model: FakeOpenAI
) -> None:
    model.script(Say(ANSWER))
    completion = client_a.chat.completions.create(
        model="chatmina", messages=[{"role": "user", "content": QUESTION}]
    )
    assert completion.choices[0].message.content == ANSWER
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert completion.model_extra is not None
    assert completion.model_extra["citations"][0]["title"] == "Refunds"
    models = client_a.models.list()
    assert [m.id for m in models.data] == ["chatmina"]


def test_the_prompt_carries_the_assistant_persona_and_numbered_sources(
    client_a: openai.OpenAI, model: FakeOpenAI, services: Services, personas: Personas
) -> None:
    configure_model(
        services,
        personas.a_id,
        model,
        assistant_name="Mina",
        tone="concise",
        instructions="Always sign with 'Team Acme'.",
    )
    client_a.chat.completions.create(
        model="chatmina", messages=[{"role": "user", "content": QUESTION}]
    )
    sent = model.chat_requests[-1]
    assert sent["model"] == "gpt-4o-mini" and sent["stream"] is True
    system = sent["messages"][0]["content"]
    assert sent["messages"][0]["role"] == "system"
    assert "You are Mina" in system and "Acme Support" in system
    assert "Brief and to the point" in system
    assert "Always sign with 'Team Acme'." in system
    assert "Answer only from the numbered sources" in system
    assert "[1] Refunds" in system and "press Request refund" in system
    assert sent["messages"][-1] == {"role": "user", "content": QUESTION}
    # The workspace's own key, decrypted, is what the model server received.
    assert model.requests[-1].headers["authorization"] == "Bearer sk-acme"


def test_a_follow_up_is_rewritten_before_searching(
    client_a: openai.OpenAI, model: FakeOpenAI, services: Services
) -> None:
    model.script(Say("shipping delivery times express"), Say("Two to four days [1]."))
    completion = client_a.chat.completions.create(
        model="chatmina",
        messages=[
            {"role": "user", "content": "Do you ship to Spain?"},
            {"role": "assistant", "content": "Yes, to every EU country."},
            {"role": "user", "content": "How long does it take?"},
        ],
    )
    rewrite, answer = model.chat_requests[-2:]
    assert "Last message: How long does it take?" in rewrite["messages"][-1]["content"]
    assert "Do you ship to Spain?" in rewrite["messages"][-1]["content"]
    # The answer prompt has the history and the sources found for the rewritten query.
    assert [m["role"] for m in answer["messages"]] == ["system", "user", "assistant", "user"]
    assert "[1] Shipping" in answer["messages"][0]["content"]
    assert completion.model_extra is not None
    assert completion.model_extra["citations"][0]["title"] == "Shipping"


def test_below_the_threshold_the_model_is_not_asked_and_a_gap_is_recorded(
    client_a: openai.OpenAI, model: FakeOpenAI, services: Services
) -> None:
    completion = client_a.chat.completions.create(
        model="chatmina", messages=[{"role": "user", "content": "Who won the 1998 World Cup?"}]
    )
    text = completion.choices[0].message.content or ""
    assert "don't know" in text and "person" in text
    assert model.chat_requests == []
    with services.db.read() as s:
        assert s.scalars(select(KnowledgeGap.question)).all() == ["Who won the 1998 World Cup?"]


def test_with_general_knowledge_allowed_the_model_answers_without_sources(
    client_a: openai.OpenAI, model: FakeOpenAI, services: Services, personas: Personas
) -> None:
    configure_model(
        services,
        personas.a_id,
        model,
        knowledge_mode="general",
    )
    model.script(Say("France won it."))
    completion = client_a.chat.completions.create(
        model="chatmina", messages=[{"role": "user", "content": "Who won the 1998 World Cup?"}]
    )
    assert completion.choices[0].message.content == "France won it."
    system = model.chat_requests[-1]["messages"][0]["content"]
    assert "general knowledge" in system and "Sources:" not in system
    with services.db.read() as s:  # still a gap: the knowledge base did not cover it
        assert s.scalars(select(KnowledgeGap.question)).all() == ["Who won the 1998 World Cup?"]


def test_the_instance_model_is_used_when_the_workspace_has_none(
    client: Any, services: Services, personas: Personas, help_center: dict[str, int]
) -> None:
    with FakeOpenAI(api_key="sk-instance") as fake:
        services.answerer.settings = services.settings.replace(
            llm_base_url=fake.base_url, llm_model="llama3.2", llm_api_key="sk-instance"
        )
        fake.script(Say("From the instance model [1]."))
        response = client.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": QUESTION}]},
            headers={"Authorization": f"Bearer {personas.a_key}"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["choices"][0]["message"]["content"] == "From the instance model [1]."
        assert fake.chat_requests[-1]["model"] == "llama3.2"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "assistant", "content": "hi"}]}, "user's question"),
        ({"messages": [{"role": "user", "content": "   "}]}, "user's question"),
        ({"messages": [{"role": "user", "content": "x" * 4001}]}, "4,000 characters"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "role"),
        ({"model": "chatmina"}, "messages"),
    ],
)
def test_bad_requests_get_a_clear_error_and_store_nothing(
    client: Any, services: Services, personas: Personas, body: dict[str, Any], message: str
) -> None:
    response = client.post(
        "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {personas.a_key}"}
    )
    assert response.status_code == 400
    problem = response.json()
    assert message in problem["detail"] and message in problem["error"]["message"]
    assert stored(services) == []


def test_the_endpoint_needs_a_valid_workspace_key(live: str, services: Services) -> None:
    bad = openai.OpenAI(base_url=live + "/v1", api_key="cm_not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="API key"):
        bad.chat.completions.create(
            model="chatmina", messages=[{"role": "user", "content": QUESTION}]
        )
    assert stored(services) == []


def test_each_workspace_answers_from_its_own_knowledge(
    live: str, personas: Personas, help_center: dict[str, int]
) -> None:
    client_b = openai.OpenAI(base_url=live + "/v1", api_key=personas.b_key, max_retries=0)
    completion = client_b.chat.completions.create(
        model="chatmina", messages=[{"role": "user", "content": "How do I request a refund?"}]
    )
    assert completion.model_extra is not None
    titles = {c["title"] for c in completion.model_extra["citations"]}
    assert "Refunds" not in titles
