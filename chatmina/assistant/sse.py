"""Reading a streamed chat completion: Server-Sent Events of ``chat.completion.chunk``.

Chatmina reads the stream itself instead of through the client's typed objects: msgspec
decodes a chunk several times faster, and every event that arrived in one network read is
handled together, so under load a slow event loop relays several tokens per write
instead of falling behind one token at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
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


class Batches:
    """The bytes of ``source``: the first at once, then whatever arrives within
    ``interval`` of the last text shown, together.

    A model streams a token every 20 ms or so; relaying each on its own costs a parse and a
    write to the visitor per token, which under load is what the server spends its time on.
    Text that arrives 50 ms at a time still reads as a smooth stream. The consumer calls
    :meth:`shown` when a batch put text in front of the visitor: until then (the role
    chunk, say) nothing is held back, so the first words are never delayed. A background
    task reads, so a slow consumer never holds up the network (nor its timeouts).
    """

    def __init__(self, source: AsyncIterator[bytes], interval: float) -> None:
        self._source = source
        self._interval = interval
        self._shown_at: float | None = None

    def shown(self) -> None:
        self._shown_at = asyncio.get_running_loop().time()

    async def relay(self) -> AsyncGenerator[bytes, None]:
        loop = asyncio.get_running_loop()
        buffer = bytearray()
        arrived = asyncio.Event()
        ended: list[BaseException | None] = []

        async def pump() -> None:
            try:
                async for data in self._source:
                    buffer.extend(data)
                    arrived.set()
            except Exception as error:  # handed to the consumer, which raises it
                ended.append(error)
            else:
                ended.append(None)
            arrived.set()

        reading = asyncio.create_task(pump())
        try:
            while True:
                await arrived.wait()
                if self._shown_at is not None and not ended:
                    wait = self._shown_at + self._interval - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                arrived.clear()
                if buffer:
                    data = bytes(buffer)
                    buffer.clear()
                    yield data
                if ended and not buffer:
                    if ended[0] is not None:
                        raise ended[0]
                    return
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
