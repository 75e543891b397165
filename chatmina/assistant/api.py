"""An OpenAI-compatible endpoint for a workspace's assistant: ``/v1/models`` and
``/v1/chat/completions``, authenticated with a workspace API key.

Any OpenAI client works: point its base URL at ``https://HOST/v1`` and use the key. The
answer comes from the workspace's knowledge (and its model, if one is configured); the
sources it cites travel in an extra ``citations`` field that standard clients ignore.
Each request is stored as a conversation of its own (channel "api"); earlier messages in
the request are the history.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import JSONBody
from litestar.response import Stream

from chatmina.accounts.models import Workspace
from chatmina.assistant.events import Finished, Source, Token
from chatmina.assistant.pipeline import Question, Run
from chatmina.assistant.schemas import (
    MODEL_ID,
    AnswerInfo,
    ChatCompletionIn,
    ChatCompletionOut,
    ChatMessageOut,
    Choice,
    Citation,
    ModelList,
    ModelOut,
    Usage,
    chunk,
)
from chatmina.conversations.service import Turn
from chatmina.errors import UserError
from chatmina.ui.guards import api_key_required, api_workspace
from chatmina.ui.render import services_of

Req = Request[Any, Any, Any]


def _question(workspace: Workspace, data: ChatCompletionIn) -> Question:
    """The last message is the question; earlier user and assistant messages the history."""
    *earlier, last = data.messages
    if last.role != "user" or not last.text().strip():
        raise UserError("The last message must be the user's question, with text.", "messages")
    history = [
        Turn(m.role, m.text()) for m in earlier if m.role in ("user", "assistant") and m.text()
    ]
    return Question(workspace.id, workspace.name, last.text(), "api", history=history)


def _citations(sources: list[Source]) -> list[Citation]:
    return [Citation(s.n, s.title, s.url, s.heading, s.article_id, s.chunk_id) for s in sources]


def _usage(finished: Finished) -> Usage:
    prompt = finished.usage.get("prompt_tokens", 0)
    completion = finished.usage.get("completion_tokens", 0)
    return Usage(prompt, completion, prompt + completion)


def _info(run: Run, finished: Finished) -> AnswerInfo:
    return AnswerInfo(run.conversation_id, finished.outcome, finished.handoff_offered)


class ChatApi(Controller):
    path = "/v1"
    guards = [api_key_required]
    tags = ["OpenAI-compatible"]
    security = [{"apiKey": []}]

    @get("/models", summary="The assistant, as a model")
    async def models(self, request: Req) -> ModelList:
        workspace = api_workspace(request)
        created = int(workspace.created_at.timestamp())
        return ModelList([ModelOut(MODEL_ID, created, workspace.slug)])

    @post(
        "/chat/completions",
        summary="Ask the workspace's assistant",
        description=(
            "OpenAI's chat completions API, streaming or not. The answer cites its sources "
            "as [n]; `citations` lists them and `chatmina` says how it was answered."
        ),
        status_code=200,
    )
    async def chat_completions(
        self, request: Req, data: JSONBody[ChatCompletionIn]
    ) -> ChatCompletionOut | Stream:
        answerer = services_of(request).answerer
        run = await answerer.start(_question(api_workspace(request), data))
        completion_id = f"chatcmpl-{run.conversation_id}"
        created = int(time.time())
        if data.stream:
            usage = bool(data.stream_options and data.stream_options.include_usage)
            return Stream(
                _stream(run, completion_id, created, usage),
                media_type="text/event-stream",
                headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
            )
        finished: Finished | None = None
        async for event in run.events():
            if isinstance(event, Finished):
                finished = event
        assert finished is not None
        return ChatCompletionOut(
            id=completion_id,
            created=created,
            model=MODEL_ID,
            choices=[Choice(0, ChatMessageOut("assistant", finished.content), "stop")],
            usage=_usage(finished),
            citations=_citations(finished.citations),
            chatmina=_info(run, finished),
        )


async def _stream(
    run: Run, completion_id: str, created: int, include_usage: bool
) -> AsyncIterator[bytes]:
    yield chunk(completion_id, created, {"role": "assistant", "content": ""})
    # aclosing: a client that leaves while a chunk is being sent closes the run at once
    # (the model request ends, what was shown is stored), not when it is garbage-collected.
    async with contextlib.aclosing(run.events()) as events:
        async for event in events:
            if isinstance(event, Token):
                yield chunk(completion_id, created, {"content": event.text})
            elif isinstance(event, Finished):
                yield chunk(
                    completion_id,
                    created,
                    {},
                    "stop",
                    citations=_citations(event.citations),
                    chatmina={
                        "conversation_id": run.conversation_id,
                        "outcome": event.outcome,
                        "handoff_offered": event.handoff_offered,
                    },
                )
                if include_usage:
                    yield chunk(completion_id, created, None, usage=_usage(event))
    yield b"data: [DONE]\n\n"
