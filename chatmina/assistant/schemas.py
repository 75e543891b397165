"""JSON shapes of the OpenAI-compatible endpoint (/v1).

Requests are read leniently, like OpenAI's own API: fields Chatmina does not use
(temperature, top_p, tools, …) are accepted and ignored, so existing clients work as is.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

MODEL_ID = "chatmina"


class ContentPart(msgspec.Struct):
    type: str
    text: str = ""


class ChatMessageIn(msgspec.Struct):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(p.text for p in self.content if p.type == "text" and p.text)
        return self.content or ""


class StreamOptions(msgspec.Struct):
    include_usage: bool = False


class ChatCompletionIn(msgspec.Struct):
    messages: Annotated[list[ChatMessageIn], msgspec.Meta(min_length=1, max_length=200)]
    model: str = MODEL_ID
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None


class Citation(msgspec.Struct):
    """A source the answer cites as [n]; an extra field standard clients ignore."""

    n: int
    title: str
    url: str
    heading: str
    article_id: int
    chunk_id: int


class ChatMessageOut(msgspec.Struct):
    role: str
    content: str


class Choice(msgspec.Struct):
    index: int
    message: ChatMessageOut
    finish_reason: str


class Usage(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AnswerInfo(msgspec.Struct):
    """Chatmina's own details about the answer."""

    conversation_id: int
    outcome: str  # answered | extractive | unknown | failed
    handoff_offered: bool


class ChatCompletionOut(msgspec.Struct):
    id: str
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    citations: list[Citation]
    chatmina: AnswerInfo
    object: str = "chat.completion"


class ModelOut(msgspec.Struct):
    id: str
    created: int
    owned_by: str
    object: str = "model"


class ModelList(msgspec.Struct):
    data: list[ModelOut]
    object: str = "list"


def chunk(
    completion_id: str,
    created: int,
    delta: dict[str, Any] | None,
    finish_reason: str | None = None,
    **extra: Any,
) -> bytes:
    """One ``chat.completion.chunk`` as a Server-Sent Event line; no delta: no choices (the
    usage chunk)."""
    choices = (
        [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    )
    body = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": MODEL_ID,
        "choices": choices,
        **extra,
    }
    return b"data: " + msgspec.json.encode(body) + b"\n\n"
