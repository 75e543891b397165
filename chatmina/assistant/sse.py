"""Reading a streamed chat completion: Server-Sent Events of ``chat.completion.chunk``.

Chatmina reads the stream itself instead of through the client's typed objects: msgspec
decodes a chunk several times faster, and every event that arrived in one network read is
handled together, so under load a slow event loop relays several tokens per write
instead of falling behind one token at a time.
"""

from __future__ import annotations

from typing import Any

import msgspec


class FunctionDelta(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(msgspec.Struct):
    index: int | None = None
    id: str | None = None
    function: FunctionDelta | None = None


class Delta(msgspec.Struct):
    content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


class Choice(msgspec.Struct):
    delta: Delta | None = None
    finish_reason: str | None = None


class Usage(msgspec.Struct):
    prompt_tokens: int | None = 0
    completion_tokens: int | None = 0


class Chunk(msgspec.Struct):
    choices: list[Choice] = msgspec.field(default_factory=list)
    usage: Usage | None = None
    error: Any = None  # some servers report a failure mid-stream as an event


_decode = msgspec.json.Decoder(Chunk).decode
DONE = b"[DONE]"


class StreamError(ValueError):
    """The stream is not what an OpenAI-compatible server sends."""


class EventReader:
    """Feed it bytes as they arrive; it returns the chunks of every complete event."""

    def __init__(self) -> None:
        self._buffer = b""
        self.done = False

    def feed(self, data: bytes) -> list[Chunk]:
        self._buffer += data.replace(b"\r\n", b"\n")
        *events, self._buffer = self._buffer.split(b"\n\n")
        chunks = []
        for event in events:
            payload = b"\n".join(
                line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:")
            )
            if not payload or self.done:
                continue
            if payload == DONE:
                self.done = True
                continue
            try:
                chunk = _decode(payload)
            except msgspec.DecodeError as error:
                raise StreamError(f"an event is not a chat completion chunk ({error})") from None
            if chunk.error is not None:
                raise StreamError(f"the server reported an error: {_message(chunk.error)}")
            chunks.append(chunk)
        return chunks


def _message(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    return str(error)[:300]
