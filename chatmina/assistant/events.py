"""What the answer engine reports while it answers, in order.

    Started → Sources → (Token | ToolStatus)* → Finished

Every channel (the playground, the OpenAI-compatible API, later the widget) turns these
into its own wire format.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Source:
    """A numbered passage given to the model, resolved for citation."""

    n: int
    chunk_id: int
    article_id: int
    title: str
    url: str
    heading: str  # the heading path, "Billing > Refunds"
    text: str  # the passage as the model saw it
    relevance: float  # share of the question's words found in the passage
    score: float  # fused retrieval score
    bm25: float | None
    similarity: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Started:
    conversation_id: int
    question_id: int


@dataclass(frozen=True)
class Sources:
    sources: list[Source]
    query: str  # what was searched for: the question, or its standalone rewrite
    relevance: float


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class ToolStatus:
    """An AI Function call: "running" when dispatched, then "done" or "failed"."""

    call_id: str
    name: str
    state: str
    detail: str = ""


@dataclass
class Finished:
    message_id: int | None
    outcome: str  # answered | extractive | unknown | failed
    content: str
    citations: list[Source]
    handoff_offered: bool
    model: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    prompt: list[dict[str, Any]] = field(default_factory=list)  # as last sent to the model
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # id, name, arguments, ok,
    # content (what the model was told), summary, ms
    error: str | None = None


Event = Started | Sources | Token | ToolStatus | Finished
