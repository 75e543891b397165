"""The playground page: ask as a visitor would, see the answer and how it was made.

It works as a plain form (the answer is rendered whole once it is complete); with
JavaScript, web/static/js/playground.js posts the same form to ``/stream`` and shows the
answer as it arrives (Server-Sent Events).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated, Any

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from chatmina.accounts.roles import Permission
from chatmina.assistant import playground, service
from chatmina.assistant.pipeline import MAX_QUESTION_CHARS, Question, Run
from chatmina.errors import UserError
from chatmina.ui.context import get_auth
from chatmina.ui.errors import problem
from chatmina.ui.forms import Form, echo, text
from chatmina.ui.guards import member_workspace, requires
from chatmina.ui.render import form_errors, page, services_of

Req = Request[Any, Any, Any]
Slug = FromPath[str]
ConversationParam = Annotated[int | None, QueryParameter(name="c", ge=1, le=2**62)]
# Longer questions reach the pipeline, whose message says by how much they are too long.
QUESTION_FIELD_LIMIT = MAX_QUESTION_CHARS * 5


def _conversation_id(data: dict[str, Any]) -> int | None:
    raw = text(data, "conversation_id", 30).strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) < 16):
        raise UserError("This conversation is not valid: start a new conversation.")
    return int(raw)


class PlaygroundController(Controller):
    path = "/w/{slug:str}/playground"
    include_in_schema = False
    guards = [requires(Permission.MANAGE_KNOWLEDGE)]

    def _page(
        self,
        request: Req,
        conversation_id: int | None,
        *,
        latest: playground.AnswerView | None = None,
        question: str = "",
        status_code: int = 200,
        errors: dict[str, str] | None = None,
    ) -> Response[Any]:
        svc = services_of(request)
        workspace_id = member_workspace(request).id
        entries = playground.transcript(svc.db, workspace_id, conversation_id)
        config = service.load_config(svc.db, svc.keys, svc.settings, workspace_id)
        return page(
            request,
            "assistant/playground.html",
            nav="playground",
            status_code=status_code,
            conversation_id=conversation_id,
            transcript=entries,
            latest=latest or playground.latest_answer(entries),
            chat_model=config.chat_model,
            values={"question": question},
            errors=errors or {},
        )

    def _question(self, request: Req, data: dict[str, Any]) -> Question:
        """The question as the pipeline takes it; a conversation id must be a playground
        conversation of this workspace (404 otherwise, before anything is stored)."""
        workspace = member_workspace(request)
        conversation_id = _conversation_id(data)
        playground.check_conversation(services_of(request).db, workspace.id, conversation_id)
        asked = text(data, "question", QUESTION_FIELD_LIMIT)
        user = get_auth(request.scope).user
        return Question(
            workspace.id,
            workspace.name,
            asked,
            playground.CHANNEL,
            conversation_id,
            asked_by_id=user.id if user else None,
        )

    async def _start(self, request: Req, data: dict[str, Any]) -> Run:
        question = await anyio.to_thread.run_sync(self._question, request, data)
        return await services_of(request).answerer.start(question)

    @get("/", sync_to_thread=True)
    def show(self, request: Req, slug: Slug, c: ConversationParam = None) -> Response[Any]:
        return self._page(request, c)

    @post("/")
    async def ask(self, request: Req, slug: Slug, data: Form) -> Response[Any]:
        """Without JavaScript: answer in full, then show the page with the answer."""
        try:
            run = await self._start(request, data)
        except UserError as exc:
            if exc.status_code == 404:
                raise
            return await self._render_error(request, data, exc)
        events = [event async for event in run.events()]
        return await anyio.to_thread.run_sync(
            partial(self._page, request, run.conversation_id, latest=playground.collect(events))
        )

    async def _render_error(
        self, request: Req, data: dict[str, Any], exc: UserError
    ) -> Response[Any]:
        try:
            conversation_id = _conversation_id(data)
        except UserError:
            conversation_id = None
        return await anyio.to_thread.run_sync(
            partial(
                self._page,
                request,
                conversation_id,
                question=echo(data, "question", QUESTION_FIELD_LIMIT),
                status_code=exc.status_code,
                errors=form_errors(exc),
            )
        )

    @post("/stream", status_code=200)
    async def stream(self, request: Req, slug: Slug, data: Form) -> Response[Any]:
        """The answer as Server-Sent Events: started, sources, token…, tool…, finished.
        Bad input is a problem+json response, before the stream begins."""
        try:
            run = await self._start(request, data)
        except UserError as exc:
            errors = [{"field": exc.field, "message": exc.message}] if exc.field else None
            return problem(
                exc.status_code, exc.message, type_=exc.type, title=exc.title, errors=errors
            )
        return ServerSentEvent(_events(run))


async def _events(run: Run) -> AsyncIterator[ServerSentEventMessage]:
    # aclosing: when the browser goes away, the run is closed at once and stores what
    # was shown, instead of whenever the garbage collector gets to it.
    async with contextlib.aclosing(run.events()) as events:
        async for event in events:
            yield ServerSentEventMessage(
                data=playground.encode(event), event=playground.event_name(event)
            )
