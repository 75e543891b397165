"""The fake OpenAI-compatible server answers like the real one, over real HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes.openai_server import (
    CallTools,
    Cut,
    CutStream,
    Fail,
    FakeOpenAI,
    Garbage,
    Reply,
    Request,
    Say,
    fake_vector,
    sse,
)


def test_it_serves_deterministic_embeddings_in_openai_shape(fake_openai: FakeOpenAI) -> None:
    body = {"model": "text-embedding-3-small", "input": ["hello", "world"]}
    first = httpx.post(fake_openai.base_url + "/embeddings", json=body).json()
    again = httpx.post(fake_openai.base_url + "/embeddings", json=body).json()

    assert first == again
    assert first["object"] == "list"
    assert [d["index"] for d in first["data"]] == [0, 1]
    vector = np.array(first["data"][0]["embedding"])
    assert vector.shape == (64,)
    assert np.allclose(vector, fake_vector("text-embedding-3-small", "hello", 64))
    assert not np.allclose(vector, first["data"][1]["embedding"])


def test_it_shortens_vectors_when_asked_for_dimensions(fake_openai: FakeOpenAI) -> None:
    body = {"model": "text-embedding-3-small", "input": "hello", "dimensions": 8}
    answer = httpx.post(fake_openai.base_url + "/embeddings", json=body).json()
    assert len(answer["data"][0]["embedding"]) == 8


def test_it_requires_the_bearer_key_when_it_has_one() -> None:
    with FakeOpenAI(api_key="sk-right") as fake:
        url = fake.base_url + "/models"
        refused = httpx.get(url, headers={"Authorization": "Bearer sk-wrong"})
        accepted = httpx.get(url, headers={"Authorization": "Bearer sk-right"})

    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert accepted.status_code == 200
    assert "text-embedding-3-small" in [m["id"] for m in accepted.json()["data"]]


def test_it_fails_the_next_requests_on_command_then_recovers(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(status=429, headers={"Retry-After": "1"}, times=2)
    url = fake_openai.base_url + "/models"
    answers = [httpx.get(url) for _ in range(3)]

    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["retry-after"] == "1"
    assert answers[0].json()["error"]["message"]


def test_it_records_every_request_with_its_body_and_headers(fake_openai: FakeOpenAI) -> None:
    httpx.post(
        fake_openai.base_url + "/embeddings",
        json={"model": "nomic-embed-text", "input": "hi"},
        headers={"X-Trace": "abc"},
    )
    path, body, headers = fake_openai.requests[0]
    assert path == "/v1/embeddings"
    assert body == {"model": "nomic-embed-text", "input": "hi"}
    assert headers["x-trace"] == "abc"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"model": "text-embedding-3-small", "input": ""}, 400),
        ({"model": "text-embedding-3-small"}, 400),
        ({"model": "no-such-model", "input": "hi"}, 404),
    ],
)
def test_it_refuses_what_openai_refuses(
    fake_openai: FakeOpenAI, body: dict[str, str], status: int
) -> None:
    answer = httpx.post(fake_openai.base_url + "/embeddings", json=body)
    assert answer.status_code == status
    assert answer.json()["error"]["message"]


def test_it_waits_before_answering_when_told(fake_openai: FakeOpenAI) -> None:
    fake_openai.delay = 0.3
    began = time.monotonic()
    httpx.get(fake_openai.base_url + "/models")
    assert time.monotonic() - began >= 0.3


def _stream_route(fake: FakeOpenAI, request: Request) -> Reply:
    def events() -> Iterator[bytes]:
        yield from sse([{"n": 1}, {"n": 2}], done=False)
        if request.query == "cut=1":
            raise CutStream
        yield from sse([], done=True)

    return Reply(stream=events())


def test_new_routes_can_stream_and_cut_their_answers(fake_openai: FakeOpenAI) -> None:
    fake_openai.routes[("GET", "/v1/stream")] = _stream_route
    with httpx.stream("GET", fake_openai.base_url + "/stream") as whole:
        lines = [line for line in whole.iter_lines() if line]
    assert lines == ['data: {"n": 1}', 'data: {"n": 2}', "data: [DONE]"]

    received: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("GET", fake_openai.base_url + "/stream?cut=1") as cut,
    ):
        received.extend(line for line in cut.iter_lines() if line)
    assert "data: [DONE]" not in received


def test_unknown_paths_get_an_openai_style_404(fake_openai: FakeOpenAI) -> None:
    answer = httpx.post(fake_openai.base_url + "/nothing-here", json={})
    assert answer.status_code == 404
    assert "nothing-here" in answer.json()["error"]["message"]


QUESTION: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Where is my parcel?"}]


@pytest.fixture
def client(fake_openai: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fake_openai.base_url, api_key="x", max_retries=0) as client:
        yield client


def _chat(fake: FakeOpenAI, **body: Any) -> httpx.Response:
    body = {"model": "gpt-4o-mini", "messages": QUESTION} | body
    return httpx.post(fake.base_url + "/chat/completions", json=body)


def _stream_events(fake: FakeOpenAI, **body: Any) -> list[str]:
    """The ``data:`` lines of a streamed chat answer, read with plain httpx."""
    body = {"model": "gpt-4o-mini", "messages": QUESTION, "stream": True} | body
    with httpx.stream("POST", fake.base_url + "/chat/completions", json=body) as answer:
        assert answer.headers["content-type"] == "text/event-stream"
        return [line.removeprefix("data: ") for line in answer.iter_lines() if line]


def test_chat_streams_a_said_answer_word_by_word_with_usage(
    fake_openai: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake_openai.script(Say("Your parcel left the depot today."))
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=QUESTION,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    assert chunks[0].choices[0].delta.role == "assistant"
    words = [c.choices[0].delta.content for c in chunks[1:-2]]
    assert words == ["Your ", "parcel ", "left ", "the ", "depot ", "today."]
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    usage = chunks[-1].usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (7, 6, 13)
    assert {c.id for c in chunks} == {"chatcmpl-1"}
    assert fake_openai.served == 1


def test_chat_streams_server_sent_events_in_openai_shape(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Say("Hello there"))
    events = _stream_events(fake_openai, model="llama3.2")

    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": ""},
        {"content": "Hello "},
        {"content": "there"},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, None, "stop"]
    assert {(c["object"], c["model"]) for c in chunks} == {("chat.completion.chunk", "llama3.2")}
    assert all(isinstance(c["created"], int) and "usage" not in c for c in chunks)


def test_chat_answers_whole_with_usage_when_not_streaming(
    fake_openai: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake_openai.script(Say("It is in Leeds."))
    conversation: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "You help customers."},
        {"role": "user", "content": [{"type": "text", "text": "Where is my parcel?"}]},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "tool", "tool_call_id": "call_9", "content": "Parcel A-17 is in Leeds."},
    ]
    answer = client.chat.completions.create(model="qwen2.5", messages=conversation)

    assert answer.object == "chat.completion"
    assert answer.model == "qwen2.5"
    assert answer.choices[0].message.content == "It is in Leeds."
    assert answer.choices[0].message.tool_calls is None
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None
    # words plus 3 per message: (3 + 3) + (4 + 3) + (0 + 3) + (5 + 3), and 4 words answered
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (24, 4)


def _called_tools(client: openai.OpenAI, stream: bool) -> tuple[list[dict[str, str]], str | None]:
    """The tool calls the openai client sees, streamed deltas accumulated by index."""
    common: dict[str, Any] = {"model": "gpt-4o-mini", "messages": QUESTION}
    if not stream:
        choice = client.chat.completions.create(**common).choices[0]
        calls = choice.message.tool_calls or []
        found = [
            {"id": c.id, "name": c.function.name, "arguments": c.function.arguments} for c in calls
        ]
        return found, choice.finish_reason
    accumulated: dict[int, dict[str, str]] = {}
    finish_reason = None
    for chunk in client.chat.completions.create(stream=True, **common):
        delta = chunk.choices[0].delta
        for piece in delta.tool_calls or []:
            call = accumulated.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += piece.id or ""
            call["name"] += (piece.function and piece.function.name) or ""
            call["arguments"] += (piece.function and piece.function.arguments) or ""
        finish_reason = chunk.choices[0].finish_reason or finish_reason
    return [accumulated[index] for index in sorted(accumulated)], finish_reason


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_chat_calls_tools_that_the_openai_client_can_parse(
    fake_openai: FakeOpenAI, client: openai.OpenAI, stream: bool
) -> None:
    fake_openai.script(CallTools([("track_parcel", {"parcel": "A-17"}), ("refund", "{not json")]))
    calls, finish_reason = _called_tools(client, stream)

    assert finish_reason == "tool_calls"
    assert [c["name"] for c in calls] == ["track_parcel", "refund"]
    assert [c["id"] for c in calls] == ["call_1", "call_2"]
    assert json.loads(calls[0]["arguments"]) == {"parcel": "A-17"}
    assert calls[1]["arguments"] == "{not json"


def test_chat_streams_tool_calls_as_openai_deltas(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(CallTools([("track_parcel", {"parcel": "A-17"})]))
    events = _stream_events(fake_openai, stream_options={"include_usage": True})
    chunks = [json.loads(event) for event in events[:-1]]
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks[1:-2]]

    assert calls[0] == {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "track_parcel", "arguments": ""},
    }
    assert 2 <= len(calls[1:]) <= 3
    assert all(set(piece) == {"index", "function"} for piece in calls[1:])
    arguments = "".join(piece["function"]["arguments"] for piece in calls[1:])
    assert arguments == '{"parcel": "A-17"}'
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["completion_tokens"] == 3  # two words of arguments, one call


def test_chat_fails_with_the_scripted_status_and_headers(
    fake_openai: FakeOpenAI, client: openai.OpenAI
) -> None:
    too_many = Fail(429, headers={"Retry-After": "1"})
    fake_openai.script(too_many, too_many)
    refused = _chat(fake_openai)
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)

    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"] == {
        "message": "Simulated failure",
        "type": "server_error",
        "param": None,
        "code": None,
    }
    assert limited.value.response.headers["retry-after"] == "1"


def test_chat_context_too_long_is_a_bad_request_with_its_code(
    fake_openai: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake_openai.script(
        Fail(
            400,
            "This model's maximum context length is 8192 tokens. "
            "However, your messages resulted in 9000 tokens.",
            code="context_length_exceeded",
            kind="invalid_request_error",
        )
    )
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)

    assert refused.value.code == "context_length_exceeded"
    assert "maximum context length is 8192 tokens" in refused.value.message


def test_chat_cut_breaks_the_openai_stream_after_its_words(
    fake_openai: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake_openai.script(Cut("Your parcel is"))
    received: list[str] = []
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION, stream=True)
    with pytest.raises(openai.APIConnectionError) as broken:
        received.extend(chunk.choices[0].delta.content or "" for chunk in stream)

    assert "".join(received) == "Your parcel is"
    assert "incomplete chunked read" in str(broken.value.__cause__)
    assert fake_openai.served == 0


def test_chat_cut_without_streaming_drops_the_connection_unanswered(
    fake_openai: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake_openai.script(Cut("Your parcel is"))
    with pytest.raises(openai.APIConnectionError) as broken:
        client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
    assert "without sending a response" in str(broken.value.__cause__)


def test_chat_garbage_is_a_line_or_body_that_is_not_json(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Garbage(), Garbage())
    events = _stream_events(fake_openai)
    whole = _chat(fake_openai)

    assert json.loads(events[0])["choices"][0]["delta"]["role"] == "assistant"
    assert events[1:] == ["{not json", "[DONE]"]
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "application/json"
    assert whole.content == b"{not json"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_chat_garbage_breaks_the_openai_client_with_a_json_error(
    fake_openai: FakeOpenAI, client: openai.OpenAI, stream: bool
) -> None:
    fake_openai.script(Garbage())
    with pytest.raises(json.JSONDecodeError):
        answer = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=QUESTION,
            stream=stream,
        )
        if stream:
            list(answer)


def test_chat_streams_tokens_at_the_set_speed(fake_openai: FakeOpenAI) -> None:
    fake_openai.tokens_per_second = 100
    fake_openai.script(Say(" ".join(["word"] * 50)))
    began = time.perf_counter()
    events = _stream_events(fake_openai)

    assert len(events) == 1 + 50 + 2
    assert time.perf_counter() - began >= 0.4  # 49 gaps of 10 ms
    assert fake_openai.first_token_times[0] < 0.1


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_chat_waits_before_the_first_token_when_told(fake_openai: FakeOpenAI, stream: bool) -> None:
    fake_openai.first_token_delay = 0.2
    began = time.perf_counter()
    _chat(fake_openai, stream=stream)

    assert time.perf_counter() - began >= 0.2
    assert [t >= 0.2 for t in fake_openai.first_token_times] == ([True] if stream else [])


def test_chat_counts_a_client_that_leaves_in_the_middle_of_a_stream(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.tokens_per_second = 20
    fake_openai.script(Say(" ".join(["slow"] * 40)))
    body = {"model": "gpt-4o-mini", "messages": QUESTION, "stream": True}
    with httpx.stream("POST", fake_openai.base_url + "/chat/completions", json=body) as answer:
        lines = answer.iter_lines()
        while "slow" not in next(lines):
            pass
        assert not fake_openai.wait_for_disconnect(0)

    assert fake_openai.wait_for_disconnect(2.0)
    assert fake_openai.disconnects == 1
    assert fake_openai.served == 0


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"model": "gpt-4o-mini"}, 400, None),
        ({"model": "gpt-4o-mini", "messages": []}, 400, None),
        ({"model": "gpt-4o-mini", "messages": "Where is my parcel?"}, 400, None),
        ({"model": "gpt-4o-mini", "messages": [{"role": "robot", "content": "hi"}]}, 400, None),
        ({"messages": QUESTION}, 400, None),
        ({"model": "gpt-5-imaginary", "messages": QUESTION}, 404, "model_not_found"),
    ],
    ids=[
        "no messages",
        "empty messages",
        "messages not a list",
        "bad role",
        "no model",
        "unknown model",
    ],
)
def test_chat_refuses_what_openai_refuses_without_using_a_turn(
    fake_openai: FakeOpenAI, body: dict[str, Any], status: int, code: str | None
) -> None:
    fake_openai.script(Say("Kept for later."))
    refused = httpx.post(fake_openai.base_url + "/chat/completions", json=body)

    assert refused.status_code == status
    assert refused.json()["error"]["code"] == code
    assert refused.json()["error"]["message"]
    assert _chat(fake_openai).json()["choices"][0]["message"]["content"] == "Kept for later."


def test_chat_takes_scripted_turns_in_order_then_answers_the_last_question(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.script(Say("One."), Say("Two."))
    conversation = [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi!"},
        {"role": "user", "content": [{"type": "text", "text": "Where is my parcel?"}]},
    ]
    answers = [_chat(fake_openai, messages=conversation).json() for _ in range(3)]

    contents = [a["choices"][0]["message"]["content"] for a in answers]
    assert contents == ["One.", "Two.", "Answer to: Where is my parcel?"]
    assert fake_openai.served == 3


def test_chat_requests_lists_only_chat_completion_bodies(fake_openai: FakeOpenAI) -> None:
    httpx.post(
        fake_openai.base_url + "/embeddings", json={"model": "nomic-embed-text", "input": "hi"}
    )
    _chat(fake_openai, model="llama3.2")

    assert fake_openai.chat_requests == [{"model": "llama3.2", "messages": QUESTION}]
    assert len(fake_openai.requests) == 2


async def _stream_many(base_url: str, count: int) -> list[str]:
    limits = httpx.Limits(max_connections=None)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:

        async def ask(number: int) -> str:
            body = {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": f"question {number}"}],
                "stream": True,
            }
            text = ""
            async with client.stream("POST", "/chat/completions", json=body) as answer:
                async for line in answer.aiter_lines():
                    if line.startswith("data: {"):
                        text += json.loads(line[6:])["choices"][0]["delta"].get("content", "")
            return text

        return await asyncio.gather(*(ask(number) for number in range(count)))


@pytest.mark.anyio
async def test_chat_serves_200_streams_at_once(fake_openai: FakeOpenAI) -> None:
    fake_openai.first_token_delay = 0.2
    fake_openai.tokens_per_second = 100
    began = time.perf_counter()
    texts = await _stream_many(fake_openai.base_url, 200)

    assert texts == [f"Answer to: question {number}" for number in range(200)]
    assert fake_openai.served == 200
    assert time.perf_counter() - began < 10  # one after another would take over 40 s
