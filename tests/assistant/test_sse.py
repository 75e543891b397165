"""Reading a streamed chat completion, piece by piece as the network delivers it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from chatmina.assistant.sse import Batches, EventReader, StreamError

CHUNK = b'data: {"choices": [{"delta": {"content": "Hi"}, "finish_reason": null}]}\n\n'


def test_events_split_across_reads_are_put_back_together() -> None:
    reader = EventReader()
    assert reader.feed(CHUNK[:17]) == []
    chunks = reader.feed(CHUNK[17:] + CHUNK.replace(b"\n", b"\r\n"))
    assert [c.choices[0].delta.content for c in chunks] == ["Hi", "Hi"]  # type: ignore[union-attr]


def test_comments_and_other_fields_are_ignored_and_done_ends_the_stream() -> None:
    reader = EventReader()
    chunks = reader.feed(b": keep-alive\n\nevent: message\n" + CHUNK + b"data: [DONE]\n\n" + CHUNK)
    assert len(chunks) == 1 and reader.done


def test_unknown_fields_are_accepted_like_openai_clients_do() -> None:
    body = (
        b'data: {"id": "x", "system_fingerprint": "fp", "choices": [{"index": 0, '
        b'"delta": {"role": "assistant", "refusal": null}, "logprobs": null}]}\n\n'
    )
    (chunk,) = EventReader().feed(body)
    assert chunk.choices[0].delta is not None and chunk.choices[0].delta.content is None


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b"data: {not json\n\n", "not a chat completion chunk"),
        (b'data: {"choices": "many"}\n\n', "not a chat completion chunk"),
        (b'data: {"error": {"message": "model overloaded"}}\n\n', "model overloaded"),
    ],
)
def test_malformed_events_and_errors_mid_stream_are_reported(body: bytes, complaint: str) -> None:
    with pytest.raises(StreamError, match=complaint):
        EventReader().feed(body)


async def _arriving(*pieces: tuple[float, bytes]) -> AsyncIterator[bytes]:
    for delay, data in pieces:
        await asyncio.sleep(delay)
        yield data


@pytest.mark.anyio
async def test_nothing_is_held_until_text_was_shown_then_reads_travel_together() -> None:
    source = _arriving(
        (0, b"role"), (0.01, b"a"), (0.01, b"b"), (0.01, b"c"), (0.01, b"d"), (0.2, b"e")
    )
    batches = Batches(source, 0.05)
    got = []
    async for data in batches.relay():
        got.append(data)
        if data != b"role":
            batches.shown()
    assert got[:2] == [b"role", b"a"]  # the role chunk showed nothing: "a" is not held
    assert b"bcd" in got  # three reads 10 ms apart, relayed as one
    assert b"".join(got) == b"roleabcde"


@pytest.mark.anyio
async def test_a_failing_source_fails_the_batches_after_what_arrived() -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield b"a"
        raise OSError("connection reset")

    got = []
    with pytest.raises(OSError, match="connection reset"):
        async for data in Batches(failing(), 0.05).relay():
            got.append(data)
    assert got == [b"a"]
