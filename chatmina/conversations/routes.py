"""The inbox: conversation lists, one conversation's transcript and the agent's actions.

Pages work as plain forms (each action posts and redirects back); web/static/js/inbox.js
adds live updates from /inbox/events (Server-Sent Events) and the typing indicator.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, Parameter
from litestar.response import Stream

from chatmina.accounts import service as accounts
from chatmina.accounts.roles import Permission, can
from chatmina.conversations import inbox, routing
from chatmina.conversations.routing import Changed
from chatmina.conversations.stream import inbox_events
from chatmina.errors import UserError
from chatmina.ui.context import get_auth
from chatmina.ui.forms import MAX_REQUEST_BODY, Form, checked, echo, text
from chatmina.ui.guards import member_workspace, requires
from chatmina.ui.render import audit, form_errors, page, redirect, services_of

Req = Request[Any, Any, Any]
Slug = FromPath[str]
ConversationId = Annotated[int, Parameter(ge=1, le=2**62)]
# Whatever the request can carry: the service gives the real limit in its own words.
COMPOSER_LIMIT = MAX_REQUEST_BODY


def _user_id(request: Req) -> int:
    user = get_auth(request.scope).user
    assert user is not None
    return user.id


def _filters(request: Req) -> dict[str, str]:
    query = request.query_params
    view = query.get("view", "open")
    number = query.get("page", "1")
    return {
        "view": view if view in inbox.VIEWS else "open",
        "page": number if number.isdigit() and 1 <= len(number) <= 4 and number != "0" else "1",
        "assignee": query.get("assignee", "")[:20],
        "q": query.get("q", "")[: inbox.MAX_QUERY],
    }


def _back(slug: str, conversation_id: int, data: dict[str, Any]) -> str:
    qs = echo(data, "return_query", 500)
    return f"/w/{slug}/inbox/{conversation_id}" + (f"?{qs}" if qs else "")


class InboxController(Controller):
    path = "/w/{slug:str}/inbox"
    include_in_schema = False
    guards = [requires(Permission.HANDLE_CONVERSATIONS)]

    def _page(
        self,
        request: Req,
        conversation_id: int | None,
        *,
        status_code: int = 200,
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
    ) -> Response[Any]:
        svc = services_of(request)
        workspace = member_workspace(request)
        user_id = _user_id(request)
        filters = _filters(request)
        detail = None
        if conversation_id is not None:
            detail = inbox.detail(svc.db, workspace.id, conversation_id)
            if detail.row.unread:
                routing.mark_read(svc.db, workspace.id, conversation_id)
                svc.live.conversation_changed(workspace.id, Changed(conversation_id))
        number = int(filters["page"])
        rows = inbox.list_rows(
            svc.db,
            workspace.id,
            filters["view"],
            filters["assignee"],
            filters["q"],
            user_id,
            limit=inbox.LIST_LIMIT + 1,  # one more tells whether an older page exists
            offset=(number - 1) * inbox.LIST_LIMIT,
        )
        return page(
            request,
            "conversations/inbox.html",
            nav="inbox",
            status_code=status_code,
            rows=rows[: inbox.LIST_LIMIT],
            older=len(rows) > inbox.LIST_LIMIT,
            page_number=number,
            counts=inbox.counts(svc.db, workspace.id, user_id),
            views=[(key, label) for key, (label, _) in inbox.VIEWS.items()],
            view_states=inbox.VIEWS[filters["view"]][1],
            filters=filters,
            query_string=request.url.query or "",
            detail=detail,
            members=inbox.members(svc.db, workspace.id),
            me=user_id,
            errors=errors or {},
            values=values or {},
        )

    @get("/", sync_to_thread=True)
    def index(self, request: Req, slug: Slug) -> Response[Any]:
        return self._page(request, None)

    @get("/{conversation_id:int}", sync_to_thread=True)
    def show(self, request: Req, slug: Slug, conversation_id: ConversationId) -> Response[Any]:
        return self._page(request, conversation_id)

    @get("/counts", sync_to_thread=True)
    def counts(self, request: Req, slug: Slug) -> dict[str, int]:
        """The numbers on the list tabs, for inbox.js to refresh after live changes."""
        workspace = member_workspace(request)
        return inbox.counts(services_of(request).db, workspace.id, _user_id(request))

    @get("/events")
    async def events(self, request: Req, slug: Slug) -> Stream:
        workspace = member_workspace(request)
        svc, auth = services_of(request), get_auth(request.scope)
        user_id, session_id = _user_id(request), auth.session_id

        def still_allowed() -> bool:
            member = accounts.membership(svc.db, user_id, slug)
            return (
                session_id is not None
                and accounts.session_active(svc.db, session_id, svc.session_policy)
                and member is not None
                and member[0].id == workspace.id
                and can(member[1], Permission.HANDLE_CONVERSATIONS)
            )

        return Stream(
            inbox_events(svc.live, workspace.id, still_allowed),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    def _act(
        self,
        request: Req,
        slug: str,
        conversation_id: int,
        data: dict[str, Any],
        action: Any,
        audited: str = "",
    ) -> Response[Any]:
        """Run ``action``; publish what changed; record ``audited`` changes of hands."""
        svc = services_of(request)
        workspace = member_workspace(request)
        try:
            changed: Changed = action(svc.db, workspace.id)
        except UserError as exc:
            if exc.status_code == 404:
                raise
            content = echo(data, "content", COMPOSER_LIMIT)
            return self._page(
                request,
                conversation_id,
                status_code=exc.status_code,
                errors=form_errors(exc),
                values={"content": content, "kind": echo(data, "kind", 10)},
            )
        if audited:
            audit(request, f"conversation.{audited}", f"Conversation {conversation_id}")
        if changed.message_id is not None:
            svc.live.message_added(workspace.id, changed, state_changed=True)
        else:
            svc.live.conversation_changed(workspace.id, changed)
        return redirect(request, _back(slug, conversation_id, data))

    @post("/{conversation_id:int}/reply", sync_to_thread=True)
    def reply(
        self, request: Req, slug: Slug, conversation_id: ConversationId, data: Form
    ) -> Response[Any]:
        user_id = _user_id(request)

        def act(db: Any, ws: int) -> Changed:
            content = text(data, "content", COMPOSER_LIMIT)
            if checked(data, "note") or text(data, "kind", 10) == "note":
                return routing.add_note(db, ws, conversation_id, user_id, content)
            return routing.reply(db, ws, conversation_id, user_id, content)

        return self._act(request, slug, conversation_id, data, act)

    @post("/{conversation_id:int}/note", sync_to_thread=True)
    def note(
        self, request: Req, slug: Slug, conversation_id: ConversationId, data: Form
    ) -> Response[Any]:
        user_id = _user_id(request)
        return self._act(
            request,
            slug,
            conversation_id,
            data,
            lambda db, ws: routing.add_note(
                db, ws, conversation_id, user_id, text(data, "content", COMPOSER_LIMIT)
            ),
        )

    @post("/{conversation_id:int}/assign", sync_to_thread=True)
    def assign(
        self, request: Req, slug: Slug, conversation_id: ConversationId, data: Form
    ) -> Response[Any]:
        me = _user_id(request)

        def act(db: Any, ws: int) -> Changed:
            # Parsed inside the action: a bad choice is a message on the page, like the others.
            raw = text(data, "assignee", 20).strip()
            return routing.assign(
                db, ws, conversation_id, me if raw in ("", "me") else _number(raw)
            )

        return self._act(request, slug, conversation_id, data, act, "assigned")

    @post("/{conversation_id:int}/unassign", sync_to_thread=True)
    def unassign(
        self, request: Req, slug: Slug, conversation_id: ConversationId, data: Form
    ) -> Response[Any]:
        return self._act(
            request,
            slug,
            conversation_id,
            data,
            lambda db, ws: routing.unassign(db, ws, conversation_id),
            "unassigned",
        )

    @post("/{conversation_id:int}/resolve", sync_to_thread=True)
    def resolve(
        self, request: Req, slug: Slug, conversation_id: ConversationId, data: Form
    ) -> Response[Any]:
        user_id = _user_id(request)
        return self._act(
            request,
            slug,
            conversation_id,
            data,
            lambda db, ws: routing.resolve(db, ws, conversation_id, user_id),
            "resolved",
        )

    @post("/{conversation_id:int}/reopen", sync_to_thread=True)
    def reopen(
        self, request: Req, slug: Slug, conversation_id: ConversationId, data: Form
    ) -> Response[Any]:
        return self._act(
            request,
            slug,
            conversation_id,
            data,
            lambda db, ws: routing.reopen(db, ws, conversation_id),
            "reopened",
        )

    @post("/{conversation_id:int}/hand-back", sync_to_thread=True)
    def hand_back(
        self, request: Req, slug: Slug, conversation_id: ConversationId, data: Form
    ) -> Response[Any]:
        return self._act(
            request,
            slug,
            conversation_id,
            data,
            lambda db, ws: routing.hand_back(db, ws, conversation_id),
            "handed_back",
        )

    @post("/{conversation_id:int}/read", status_code=204, sync_to_thread=True)
    def read(self, request: Req, slug: Slug, conversation_id: ConversationId) -> None:
        """An agent has the conversation open while new messages arrive (from inbox.js)."""
        svc = services_of(request)
        workspace = member_workspace(request)
        routing.mark_read(svc.db, workspace.id, conversation_id)
        svc.live.conversation_changed(workspace.id, Changed(conversation_id))

    @post("/{conversation_id:int}/typing", status_code=204)
    async def typing(
        self, request: Req, slug: Slug, conversation_id: ConversationId, data: Form
    ) -> None:
        """The agent is typing in the composer: the visitor sees it (form post from JS)."""
        svc = services_of(request)
        workspace = member_workspace(request)
        user = get_auth(request.scope).user
        assert user is not None
        detail = await anyio.to_thread.run_sync(
            partial(inbox.visitor_of, svc.db, workspace.id, conversation_id)
        )
        if detail is not None:
            svc.live.typing_to_visitor(detail, "agent", user.name, checked(data, "active"))


def _number(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit() and len(raw) < 16):
        raise UserError("Choose a member of this workspace.", "assignee")
    return int(raw)
