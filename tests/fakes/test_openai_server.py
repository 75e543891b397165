"""The fake OpenAI-compatible server answers like the real one, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from tests.fakes.openai_server import CutStream, FakeOpenAI, Reply, Request, fake_vector, sse


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
