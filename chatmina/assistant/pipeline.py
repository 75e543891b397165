"""From a visitor's question to a stored, cited answer.

    question ─ store ─ (rewrite a follow-up) ─ hybrid search ─ relevant enough?
        no model ─────────── quote the best passages, or say "I don't know"
        model ───── prompt ─ stream ─ tool calls ⟲ ─ citations ─ store the answer

:meth:`Answerer.start` does everything that can fail because of the input (so a route can
still answer 400) and stores the question; :meth:`Run.events` streams the rest. Whatever
happens to the model, the visitor gets a message and the offer of a person, and both the
question and what was shown are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread

from chatmina.assistant import extractive, prompt
from chatmina.assistant import service as assistant
from chatmina.assistant.events import Event, Finished, Source, Sources, Started, Token, ToolStatus
from chatmina.assistant.llm import ChatModel, ClientPool, Completion, ModelError, ToolCallRequest
from chatmina.assistant.tools import (
    ArgumentsInvalid,
    CallContext,
    Dispatcher,
    NoFunctions,
    Tool,
    parse_arguments,
)
from chatmina.conversations import service as conversations
from chatmina.conversations.service import AnswerRecord, Turn
from chatmina.errors import Unavailable, UserError
from chatmina.knowledge import service as knowledge
from chatmina.knowledge.embedding_sets import Vectors
from chatmina.settings import Settings
from chatmina.storage.db import Database
from chatmina.storage.keys import Keys

log = logging.getLogger("chatmina.assistant")

MAX_QUESTION_CHARS = 4000
REWRITE_MAX_TOKENS = 80
INTERRUPTED = "\n\n*The answer was interrupted. Would you like me to connect you with a person?*"
LIMIT_REACHED = "Not run: the limit of function calls for one answer was reached."


def clean_question(text: str) -> str:
    question = text.strip()
    if not question:
        raise UserError("Type a question.", "question")
    if len(question) > MAX_QUESTION_CHARS:
        raise UserError(
            f"A question is limited to {MAX_QUESTION_CHARS:,} characters "
            f"(this one has {len(question):,}).",
            "question",
        )
    return question


@dataclass
class Question:
    workspace_id: int
    company: str  # the workspace's name, as the assistant speaks of it
    text: str
    channel: str  # widget, playground or api
    conversation_id: int | None = None
    history: list[Turn] | None = None  # None: the conversation's stored messages
    verified: bool = False
    asked_by_id: int | None = None  # the admin asking in the playground
    # Already stored by the caller (the widget stores a visitor's message with its own
    # client id and events first); requires conversation_id.
    question_id: int | None = None


@dataclass
class _Found:
    query: str
    sources: list[Source]
    relevance: float
    terms: list[str]
    search_ms: float


@dataclass
class _Prepared:
    config: assistant.AssistantConfig
    conversation_id: int
    question_id: int
    history: list[Turn]
    found: _Found | None  # None: search after rewriting the follow-up
    started: float
    timings: dict[str, float] = field(default_factory=dict)


class Answerer:
    def __init__(
        self,
        db: Database,
        keys: Keys,
        settings: Settings,
        vectors: Vectors,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        self.db = db
        self.keys = keys
        self.settings = settings
        self.vectors = vectors
        self.dispatcher: Dispatcher = dispatcher or NoFunctions()
        self.clients = ClientPool()

    async def start(self, question: Question) -> Run:
        """Check and store the question; raises UserError/NotFound before anything streams."""
        started = time.perf_counter()
        text = clean_question(question.text)
        prepared = await anyio.to_thread.run_sync(self._prepare, question, text, started)
        return Run(self, question, text, prepared)

    def _prepare(self, question: Question, text: str, started: float) -> _Prepared:
        config = assistant.load_config(self.db, self.keys, self.settings, question.workspace_id)
        if question.question_id is not None and question.conversation_id is not None:
            conversation_id, question_id = question.conversation_id, question.question_id
        else:
            conversation_id, question_id = conversations.add_question(
                self.db,
                question.workspace_id,
                question.conversation_id,
                question.channel,
                text,
                started_by_id=question.asked_by_id,
            )
        history = question.history
        if history is None:
            history = conversations.history(
                self.db, question.workspace_id, conversation_id, before_id=question_id
            )
        prepared = _Prepared(config, conversation_id, question_id, history, None, started)
        prepared.timings["prepare_ms"] = _ms(started)
        if config.chat_model is None or not history:
            prepared.found = self.search(question.workspace_id, text, config)
        return prepared

    def search(self, workspace_id: int, query: str, config: assistant.AssistantConfig) -> _Found:
        began = time.perf_counter()
        query = query[: knowledge.MAX_QUERY_CHARS]  # a long question: its start says enough
        try:
            hits = knowledge.search(
                self.db, self.vectors, workspace_id, query, limit=config.max_sources
            )
        except Unavailable:  # the embeddings server is down: words alone still find a lot
            hits = knowledge.search(
                self.db, self.vectors, workspace_id, query, limit=config.max_sources, mode="text"
            )
        terms = knowledge.query_terms(query)
        sources = []
        for n, hit in enumerate(hits, start=1):
            relevance = len(hit.matched_terms) / len(terms) if terms else 0.0
            sources.append(
                Source(
                    n=n,
                    chunk_id=hit.chunk_id,
                    article_id=hit.article_id,
                    title=hit.title,
                    url=hit.source_url,
                    heading=_heading(hit.title, hit.heading_path),
                    text=hit.text,
                    relevance=round(relevance, 3),
                    score=round(hit.score, 5),
                    bm25=None if hit.bm25 is None else round(hit.bm25, 3),
                    similarity=None if hit.similarity is None else round(hit.similarity, 4),
                )
            )
        best = max((s.relevance for s in sources), default=0.0)
        return _Found(query, sources, best, terms, _ms(began))

    def model(self, config: assistant.ChatModelConfig) -> ChatModel:
        return ChatModel(config, self.clients)


class Run:
    """One answer being produced; iterate :meth:`events` once."""

    def __init__(self, answerer: Answerer, question: Question, text: str, prepared: _Prepared):
        self.answerer = answerer
        self.question = question
        self.text = text
        self.p = prepared
        self.conversation_id = prepared.conversation_id
        self.shown: list[str] = []  # what the visitor has been shown so far
        self.record = AnswerRecord(content="", outcome="answered")
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0}
        self.prompt: list[dict[str, Any]] = []
        self.quoted: list[Source] = []  # passages quoted word for word (no model, or it failed)

    async def events(self) -> AsyncGenerator[Event, None]:
        p = self.p
        yield Started(p.conversation_id, p.question_id)
        try:
            found = p.found or await self._rewrite_and_search()
            yield Sources(found.sources, found.query, found.relevance)
            async for event in self._answer(found):
                yield event
        except (asyncio.CancelledError, GeneratorExit):
            # The visitor went away: keep what they were shown, stop everything upstream.
            self.record.outcome = "cancelled"
            self.record.content = "".join(self.shown)
            self._store_now()
            raise
        finished = await anyio.to_thread.run_sync(self._finish, found)
        yield finished

    # -- steps ------------------------------------------------------------------------

    async def _rewrite_and_search(self) -> _Found:
        p = self.p
        query = self.text
        chat_model = p.config.chat_model
        assert chat_model is not None
        began = time.perf_counter()
        try:
            completion = await self.answerer.model(chat_model).complete(
                prompt.rewrite_messages(self.text, p.history), REWRITE_MAX_TOKENS
            )
            rewritten = " ".join(completion.text.split()).strip("\"' ")
            if 0 < len(rewritten) <= MAX_QUESTION_CHARS:
                query = rewritten
            self._count(completion)
        except ModelError:
            pass  # search with the question as asked; the answer step reports the model
        p.timings["rewrite_ms"] = _ms(began)
        return await anyio.to_thread.run_sync(
            self.answerer.search, self.question.workspace_id, query, p.config
        )

    async def _answer(self, found: _Found) -> AsyncIterator[Event]:
        config = self.p.config
        relevant = found.relevance >= config.relevance_threshold
        tools: list[Tool] = []
        if config.chat_model is not None and config.max_tool_calls > 0:
            tools = await self.answerer.dispatcher.tools(
                self.question.workspace_id, verified=self.question.verified
            )
        if config.chat_model is None or (
            not relevant and not tools and config.knowledge_mode == "knowledge_only"
        ):
            text, quoted = (
                extractive.answer(found.sources, found.terms, config.relevance_threshold)
                if relevant
                else (extractive.UNKNOWN, [])
            )
            self.record.outcome = "extractive" if quoted else "unknown"
            self.quoted = quoted
            yield self._show(text)
            return
        sources = found.sources if relevant else []
        try:
            async for event in self._converse(config, sources, tools):
                yield event
            if not "".join(self.shown).strip():
                raise ModelError("bad_stream", "The model returned an empty answer.")
        except ModelError as error:
            # The visitor is told and offered a person; the operator learns it here.
            log.warning(
                "answer failed in workspace %s: %s",
                self.question.workspace_id,
                error,
                extra={"kind": error.kind},
            )
            self.record.outcome = "failed"
            self.record.error = str(error)
            if self.shown:
                yield self._show(INTERRUPTED)
            else:
                fallback, self.quoted = (
                    extractive.answer(found.sources, found.terms, config.relevance_threshold)
                    if relevant
                    else ("", [])
                )
                text = extractive.UNAVAILABLE
                if self.quoted:
                    text += "\n\n" + fallback
                yield self._show(text)

    async def _converse(
        self, config: assistant.AssistantConfig, sources: list[Source], tools: list[Tool]
    ) -> AsyncIterator[Event]:
        chat_model = config.chat_model
        assert chat_model is not None
        model = self.answerer.model(chat_model)
        self.record.model = chat_model.model
        by_name = {t.name: t for t in tools}
        offered = [t.as_openai() for t in tools] or None
        messages = prompt.build_messages(
            config, self.question.company, self.text, self.p.history, sources, bool(tools)
        )
        calls_made = 0
        trimmed = False
        while True:
            self.prompt = messages
            choice = "none" if offered and calls_made >= config.max_tool_calls else None
            shown_before = len(self.shown)
            completion: Completion | None = None
            try:
                async with contextlib.aclosing(
                    model.stream(messages, offered, tool_choice=choice)
                ) as pieces:
                    async for piece in pieces:
                        if isinstance(piece, Completion):
                            completion = piece
                        else:
                            yield self._show(piece)
            except ModelError as error:
                first_round = calls_made == 0 and len(self.shown) == shown_before
                if error.kind != "context_length" or trimmed or not first_round:
                    raise
                trimmed = True  # once: the latest turn and half the sources
                messages = prompt.build_messages(
                    config,
                    self.question.company,
                    self.text,
                    self.p.history[-2:],
                    sources[: max(1, len(sources) // 2)],
                    bool(tools),
                )
                self.record.error = "context too long: history and sources trimmed"
                continue
            assert completion is not None
            self._count(completion)
            if not completion.tool_calls or calls_made >= config.max_tool_calls:
                return
            messages = [*messages, _assistant_calls(completion)]
            for call in completion.tool_calls:
                if calls_made >= config.max_tool_calls:
                    messages.append(_tool_reply(call, LIMIT_REACHED))
                    continue
                calls_made += 1
                yield ToolStatus(call.id, call.name, "running")
                result = await self._call(by_name, call)
                state = "done" if result["ok"] else "failed"
                yield ToolStatus(call.id, call.name, state, result["summary"])
                messages.append(_tool_reply(call, result["content"]))

    async def _call(self, by_name: dict[str, Tool], call: ToolCallRequest) -> dict[str, Any]:
        began = time.perf_counter()
        entry: dict[str, Any] = {"id": call.id, "name": call.name, "arguments": call.arguments}
        tool = by_name.get(call.name)
        if tool is None:
            entry.update(ok=False, content=f"Error: there is no function named {call.name}.")
            entry["summary"] = "unknown function"
        else:
            try:
                arguments = parse_arguments(tool, call.arguments)
            except ArgumentsInvalid as error:
                entry.update(ok=False, content=f"Error: {error}. Nothing was run.")
                entry["summary"] = str(error)
                # A dispatcher with a call log records the refusal there too.
                rejected = getattr(self.answerer.dispatcher, "rejected", None)
                if rejected is not None:
                    await rejected(tool, call.arguments, str(error), self._context(call))
            else:
                context = self._context(call)
                outcome = await self.answerer.dispatcher.call(tool, arguments, context)
                entry.update(ok=outcome.ok, content=outcome.content, summary=outcome.summary)
        entry["ms"] = _ms(began)
        self.record.tool_calls.append(entry)
        return entry

    def _context(self, call: ToolCallRequest) -> CallContext:
        return CallContext(
            self.question.workspace_id, self.conversation_id, call.id, self.question.verified
        )

    # -- bookkeeping ------------------------------------------------------------------

    def _show(self, text: str) -> Token:
        if not self.shown:
            self.p.timings["first_token_ms"] = _ms(self.p.started)
        self.shown.append(text)
        return Token(text)

    def _count(self, completion: Completion) -> None:
        self.usage["prompt_tokens"] += completion.prompt_tokens
        self.usage["completion_tokens"] += completion.completion_tokens

    def _citations(self, found: _Found, content: str) -> list[Source]:
        if self.quoted or self.record.outcome == "unknown":
            return list(self.quoted)
        by_number = {s.n: s for s in found.sources}
        return [by_number[n] for n in prompt.cited_numbers(content) if n in by_number]

    def _finish(self, found: _Found) -> Finished:
        """Store the answer (and a knowledge gap); runs in a worker thread."""
        content = "".join(self.shown)
        citations = self._citations(found, content)
        config = self.p.config
        answered_by_tool = any(c["ok"] for c in self.record.tool_calls)
        if found.relevance < config.relevance_threshold and not answered_by_tool:
            assistant.record_gap(
                self.answerer.db,
                self.question.workspace_id,
                self.conversation_id,
                self.text,
                found.relevance,
            )
        self.record.content = content
        self.p.timings.update(search_ms=found.search_ms, total_ms=_ms(self.p.started))
        self.record.timings = self.p.timings
        self.record.usage = {k: v for k, v in self.usage.items() if v}
        cited = {s.n for s in citations}
        self.record.sources = [dict(s.as_dict(), cited=s.n in cited) for s in found.sources]
        message_id = conversations.add_answer(
            self.answerer.db, self.question.workspace_id, self.conversation_id, self.record
        )
        return Finished(
            message_id=message_id,
            outcome=self.record.outcome,
            content=content,
            citations=citations,
            handoff_offered=self.record.outcome != "answered",
            model=self.record.model,
            usage=self.record.usage,
            timings=self.p.timings,
            prompt=self.prompt,
            tool_calls=self.record.tool_calls,
            error=self.record.error,
        )

    def _store_now(self) -> None:
        """Store a cut-short answer from the event loop: cancellation cannot await."""
        self.p.timings["total_ms"] = _ms(self.p.started)
        self.record.timings = self.p.timings
        self.record.usage = {k: v for k, v in self.usage.items() if v}
        with contextlib.suppress(Exception):
            conversations.add_answer(
                self.answerer.db, self.question.workspace_id, self.conversation_id, self.record
            )


def _assistant_calls(completion: Completion) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": completion.text or None,
        "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in completion.tool_calls
        ],
    }


def _tool_reply(call: ToolCallRequest, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call.id, "content": content}


def _heading(title: str, path: list[str]) -> str:
    """The heading path below the title ("Refunds > Exceptions" under "Refunds")."""
    if path and path[0].strip().lower() == title.strip().lower():
        path = path[1:]
    return " > ".join(path)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
