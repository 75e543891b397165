"""The playground: an admin asks as a visitor would and sees how each answer was made.

Nothing here speaks HTTP. It checks that a conversation is a playground one, turns the
stored transcript into what the page shows, collects a run's events into the same shape,
and puts events on the wire for the streaming endpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from chatmina.assistant.events import Event, Finished, Source, Sources, Started, Token, ToolStatus
from chatmina.conversations import service as conversations
from chatmina.conversations.models import Message
from chatmina.errors import NotFound
from chatmina.knowledge.markdown import render
from chatmina.storage.db import Database

CHANNEL = "playground"
# Fields of a source sent to the page; the chunk and article ids only matter to the server.
SOURCE_FIELDS = (
    "n",
    "article_id",
    "title",
    "url",
    "heading",
    "relevance",
    "score",
    "bm25",
    "similarity",
    "text",
)


@dataclass
class AnswerView:
    """An assistant answer with what it was built from, as the page shows it."""

    content: str
    outcome: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    model: str | None = None
    error: str | None = None
    prompt: list[dict[str, Any]] = field(default_factory=list)  # only right after asking
    query: str = ""

    @property
    def html(self) -> Markup:
        return render(self.content)


@dataclass(frozen=True)
class Entry:
    """One message of the transcript; ``answer`` is set for the assistant's."""

    role: str
    content: str
    answer: AnswerView | None = None


def check_conversation(db: Database, workspace_id: int, conversation_id: int | None) -> None:
    """Only this workspace's playground conversations continue here, never a visitor's."""
    if conversation_id is None:
        return
    if conversations.get(db, workspace_id, conversation_id).channel != CHANNEL:
        raise NotFound("No such conversation.")


def transcript(db: Database, workspace_id: int, conversation_id: int | None) -> list[Entry]:
    if conversation_id is None:
        return []
    check_conversation(db, workspace_id, conversation_id)
    return [_entry(m) for m in conversations.messages(db, workspace_id, conversation_id)]


def _entry(message: Message) -> Entry:
    if message.role != "assistant":
        return Entry(message.role, message.content)
    sources = [_public(s) for s in message.sources or []]
    cited = [_public(s) for s in message.sources or [] if s.get("cited")]
    answer = AnswerView(
        content=message.content,
        outcome=message.outcome or "",
        sources=sources,
        citations=cited,
        tools=[_tool_from_record(c) for c in message.tool_calls or []],
        usage=dict(message.usage or {}),
        timings=dict(message.timings or {}),
        model=message.model,
        error=message.error,
    )
    return Entry("assistant", message.content, answer)


def latest_answer(entries: list[Entry]) -> AnswerView | None:
    return next((e.answer for e in reversed(entries) if e.answer is not None), None)


def collect(events: list[Event]) -> AnswerView:
    """A finished run's events as one answer (the form path, without JavaScript)."""
    sources = next((e for e in events if isinstance(e, Sources)), None)
    finished = next(e for e in events if isinstance(e, Finished))
    return AnswerView(
        content=finished.content,
        outcome=finished.outcome,
        sources=[_public(s.as_dict()) for s in sources.sources] if sources else [],
        citations=[_public(s.as_dict()) for s in finished.citations],
        tools=[_tool_from_record(c) for c in finished.tool_calls],
        usage=dict(finished.usage),
        timings=dict(finished.timings),
        model=finished.model,
        error=finished.error,
        prompt=finished.prompt,
        query=sources.query if sources else "",
    )


# -- the wire ---------------------------------------------------------------------------


def event_name(event: Event) -> str:
    names = {Started: "started", Sources: "sources", Token: "token", ToolStatus: "tool"}
    return names.get(type(event), "finished")


def payload(event: Event) -> dict[str, Any]:
    """The JSON body of one Server-Sent Event."""
    if isinstance(event, Started):
        return {"conversation_id": event.conversation_id, "question_id": event.question_id}
    if isinstance(event, Sources):
        return {
            "query": event.query,
            "relevance": event.relevance,
            "sources": [_source(s) for s in event.sources],
        }
    if isinstance(event, Token):
        return {"text": event.text}
    if isinstance(event, ToolStatus):
        return {
            "call_id": event.call_id,
            "name": event.name,
            "state": event.state,
            "detail": event.detail,
        }
    return {
        "message_id": event.message_id,
        "outcome": event.outcome,
        "content": event.content,
        "citations": [_source(s) for s in event.citations],
        "handoff_offered": event.handoff_offered,
        "model": event.model,
        "usage": event.usage,
        "timings": event.timings,
        "prompt": event.prompt,
        "error": event.error,
    }


def encode(event: Event) -> str:
    # json.dumps escapes newlines inside strings, so each event's data is a single line.
    return json.dumps(payload(event), ensure_ascii=False)


def _source(source: Source) -> dict[str, Any]:
    return _public(source.as_dict())


def _public(source: dict[str, Any]) -> dict[str, Any]:
    return {k: source.get(k) for k in SOURCE_FIELDS}


def _tool_from_record(call: dict[str, Any]) -> dict[str, Any]:
    return {
        "call_id": call.get("id", ""),
        "name": call.get("name", ""),
        "state": "done" if call.get("ok") else "failed",
        "detail": call.get("summary", ""),
        "arguments": call.get("arguments", ""),
        "result": call.get("content", ""),
    }
