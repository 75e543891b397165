"""When the model fails, the visitor still gets a clear message and the offer of a person,
the question is kept, and nothing is retried once words have been shown."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from chatmina.assistant.events import Finished, Token
from chatmina.assistant.pipeline import Question
from chatmina.conversations.models import Message
from chatmina.ui.context import Services
from tests.assistant.conftest import configure, configure_model
from tests.conftest import Personas
from tests.fakes.openai_server import Cut, Fail, FakeOpenAI, Garbage, Say
from tests.server_helpers import free_port

QUESTION = "How do I request a refund?"
CONTEXT_ERROR = Fail(
    400,
    "This model's maximum context length is 8192 tokens. However, your messages resulted "
    "in 9000 tokens.",
    code="context_length_exceeded",
    kind="invalid_request_error",
)


async def answer(services: Services, personas: Personas) -> tuple[Finished, list[str]]:
    run = await services.answerer.start(Question(personas.a_id, "Acme Support", QUESTION, "api"))
    events = [event async for event in run.events()]
    tokens = [e.text for e in events if isinstance(e, Token)]
    finished = events[-1]
    assert isinstance(finished, Finished)
    return finished, tokens


def stored(services: Services) -> list[tuple[str, str, str | None]]:
    with services.db.read() as s:
        rows = s.scalars(select(Message).order_by(Message.id)).all()
    return [(m.role, m.content, m.outcome) for m in rows]


def assert_offered_a_person_and_kept_everything(
    services: Services, finished: Finished, error: str
) -> None:
    assert finished.outcome == "failed" and finished.handoff_offered
    assert "connect you with a person" in finished.content
    assert finished.error is not None and error in finished.error
    assert stored(services) == [
        ("visitor", QUESTION, None),
        ("assistant", finished.content, "failed"),
    ]


@pytest.mark.anyio
async def test_a_429_is_retried_after_the_time_the_server_asks_for(
    services: Services, personas: Personas, model: FakeOpenAI
) -> None:
    model.script(Fail(429, headers={"Retry-After": "1"}), Say("Press Request refund [1]."))
    began = time.monotonic()
    finished, _ = await answer(services, personas)
    assert time.monotonic() - began >= 1.0
    assert finished.outcome == "answered" and finished.content == "Press Request refund [1]."
    assert len(model.chat_requests) == 2


@pytest.mark.anyio
async def test_a_long_retry_after_fails_at_once_with_the_passages_quoted(
    services: Services, personas: Personas, model: FakeOpenAI
) -> None:
    model.script(Fail(429, headers={"Retry-After": "120"}))
    began = time.monotonic()
    finished, _ = await answer(services, personas)
    assert time.monotonic() - began < 2
    assert "can't answer right now" in finished.content
    # The knowledge base still helps: its best passage is quoted, with its citation.
    assert "Request refund" in finished.content and "[1]" in finished.content
    assert [c.title for c in finished.citations][:1] == ["Refunds"]
    assert_offered_a_person_and_kept_everything(services, finished, "429")


@pytest.mark.anyio
async def test_server_errors_are_retried_twice_then_reported(
    services: Services, personas: Personas, model: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    model.script(Fail(503), Fail(502), Fail(500))
    with caplog.at_level(logging.WARNING, "chatmina.assistant"):
        finished, _ = await answer(services, personas)
    assert len(model.chat_requests) == 3
    # The operator sees it in the log too (never the question or the key).
    [record] = caplog.records
    assert "failed (500)" in record.getMessage() and QUESTION not in record.getMessage()
    assert_offered_a_person_and_kept_everything(services, finished, "failed (500)")


@pytest.mark.anyio
async def test_a_server_error_then_success_answers_normally(
    services: Services, personas: Personas, model: FakeOpenAI
) -> None:
    model.script(Fail(500), Say("Press Request refund [1]."))
    finished, _ = await answer(services, personas)
    assert finished.outcome == "answered"


@pytest.mark.anyio
async def test_a_model_slower_than_the_timeout_is_reported_without_retrying(
    services: Services, personas: Personas, model: FakeOpenAI
) -> None:
    services.answerer.settings = services.settings.replace(llm_timeout_seconds=1)
    model.first_token_delay = 3
    began = time.monotonic()
    finished, _ = await answer(services, personas)
    assert time.monotonic() - began < 2.5
    assert len(model.chat_requests) == 1
    assert_offered_a_person_and_kept_everything(services, finished, "did not answer within 1")


@pytest.mark.anyio
async def test_an_unreachable_model_is_reported(
    services: Services, personas: Personas, help_center: dict[str, int]
) -> None:
    configure(
        services,
        personas.a_id,
        llm_base_url=f"http://127.0.0.1:{free_port()}/v1",
        llm_model="llama3.2",
    )
    finished, _ = await answer(services, personas)
    assert_offered_a_person_and_kept_everything(services, finished, "is unreachable")


@pytest.mark.anyio
async def test_a_refused_key_is_not_retried(
    services: Services, personas: Personas, model: FakeOpenAI
) -> None:
    configure_model(
        services,
        personas.a_id,
        model,
        llm_api_key="sk-wrong",
    )
    finished, _ = await answer(services, personas)
    assert len(model.requests) == 1
    assert_offered_a_person_and_kept_everything(services, finished, "refused the API key")
    assert "sk-wrong" not in (finished.error or "")


@pytest.mark.anyio
async def test_a_stream_cut_mid_answer_keeps_what_was_shown(
    services: Services, personas: Personas, model: FakeOpenAI
) -> None:
    model.script(Cut("Open Billing and then"))
    finished, tokens = await answer(services, personas)
    assert "".join(tokens).startswith("Open Billing and then")
    assert finished.content.startswith("Open Billing and then")
    assert "interrupted" in finished.content
    assert len(model.chat_requests) == 1  # never retried once words were shown
    assert_offered_a_person_and_kept_everything(services, finished, "broke off")


@pytest.mark.anyio
async def test_a_malformed_stream_is_reported(
    services: Services, personas: Personas, model: FakeOpenAI
) -> None:
    model.script(Garbage())
    finished, _ = await answer(services, personas)
    assert_offered_a_person_and_kept_everything(services, finished, "broke off")


LLAMA_CPP_CONTEXT_ERROR = Fail(
    400,
    "the request exceeds the available context size, try increasing it",
    kind="exceed_context_size_error",
)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "refusal", [CONTEXT_ERROR, LLAMA_CPP_CONTEXT_ERROR], ids=["openai", "llama.cpp"]
)
async def test_a_context_length_error_trims_history_and_sources_and_retries_once(
    services: Services, personas: Personas, model: FakeOpenAI, refusal: Fail
) -> None:
    model.script(refusal, Say("Press Request refund [1]."))
    finished, _ = await answer(services, personas)
    assert finished.outcome == "answered"
    first, second = model.chat_requests
    assert len(second["messages"][0]["content"]) < len(first["messages"][0]["content"])


@pytest.mark.anyio
async def test_a_second_context_length_error_is_reported(
    services: Services, personas: Personas, model: FakeOpenAI
) -> None:
    model.script(CONTEXT_ERROR, CONTEXT_ERROR)
    finished, _ = await answer(services, personas)
    assert len(model.chat_requests) == 2
    assert_offered_a_person_and_kept_everything(services, finished, "too long")


def test_a_client_that_leaves_cancels_the_model_request(
    live: str, services: Services, personas: Personas, model: FakeOpenAI
) -> None:
    model.tokens_per_second = 10
    model.script(Say(" ".join(f"word{i}" for i in range(100))))
    body: dict[str, Any] = {
        "model": "chatmina",
        "stream": True,
        "messages": [{"role": "user", "content": QUESTION}],
    }
    headers = {"Authorization": f"Bearer {personas.a_key}"}
    with httpx.stream("POST", live + "/v1/chat/completions", json=body, headers=headers) as r:
        seen = ""
        for line in r.iter_lines():
            seen += line
            if "word2" in seen:
                break
    assert model.wait_for_disconnect(5), "the model kept streaming to nobody"
    deadline = time.monotonic() + 5
    while len(stored(services)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    (_, _, _), (role, content, outcome) = stored(services)
    assert (role, outcome) == ("assistant", "cancelled")
    assert content.startswith("word0 word1 word2") and "word99" not in content
