"""The public widget API: /api/widget/v1/{public_id}/…, what widget.js talks to.

JSON in and out, problem+json errors. A visitor proves who they are with the token from
POST /visitors (``Authorization: Bearer``). Origins are checked in cors.py before any
handler runs. Writes are rate limited per client address and messages per visitor.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.params import JSONBody, Parameter
from litestar.response import Stream

from chatmina.conversations import routing, visitors, widget_settings
from chatmina.conversations import service as conversations
from chatmina.conversations.answers import Ask
from chatmina.conversations.live import Site
from chatmina.conversations.models import Visitor
from chatmina.conversations.schemas import (
    ConversationWrap,
    CurrentOut,
    FeedbackIn,
    HandoffIn,
    MessageIn,
    MessageWrap,
    PostedOut,
    RatingIn,
    TypingIn,
    VisitorIn,
    VisitorInfo,
    VisitorOut,
    WidgetConfigOut,
)
from chatmina.conversations.stream import visitor_events
from chatmina.errors import Throttled, UserError
from chatmina.ui.context import Services, get_auth
from chatmina.ui.render import services_of

Req = Request[Any, Any, Any]
PublicId = Annotated[str, Parameter(max_length=40, description="The workspace's public id")]
MAX_AFTER = 2**62
MAX_STREAMS_PER_VISITOR = 5


def _site(request: Req, public_id: str) -> Site:
    return services_of(request).live.site(public_id)


def _limit_ip(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Every widget request counts against its address (CHATMINA_WIDGET_REQUESTS_PER_MINUTE),
    before anything else is looked at: reads, streams and bad tokens too."""
    live = services_of(connection).live
    key = get_auth(connection.scope).ip
    wait = live.per_ip.retry_after(key)
    if wait:
        raise Throttled(f"Too many requests from this address; try again in {wait} s.", wait)
    live.per_ip.hit(key)


def _bearer(request: Req, query_token: str = "") -> str:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    if query_token:
        return query_token
    raise visitors.TokenInvalid("Send the visitor token as 'Authorization: Bearer <token>'.")


def _visitor(request: Req, public_id: str, query_token: str = "") -> tuple[Services, Site, Visitor]:
    svc = services_of(request)
    site = svc.live.site(public_id)
    visitor_id = visitors.read_token(svc.keys, site.workspace_id, _bearer(request, query_token))
    return svc, site, visitors.find(svc.db, site.workspace_id, visitor_id)


class WidgetApi(Controller):
    path = "/api/widget/v1/{public_id:str}"
    guards = [_limit_ip]
    tags = ["Widget"]
    security = [{"visitorToken": []}]

    @get(
        "/config",
        summary="The widget's look, texts and options",
        security=[],
        sync_to_thread=True,
    )
    def config(
        self,
        request: Req,
        public_id: PublicId,
        locale: Annotated[str, Parameter(max_length=20)] = "",
    ) -> WidgetConfigOut:
        svc = services_of(request)
        site = _site(request, public_id)
        config = widget_settings.load(svc.db, svc.keys, site.workspace_id)
        data = widget_settings.public_config(public_id, site.name, config, locale)
        return msgspec.convert(data, WidgetConfigOut)

    @post(
        "/visitors",
        summary="Start as a new visitor (or a verified user)",
        description="Returns the visitor token the other routes need. With identity "
        "verification, `user.hash` is hex(HMAC-SHA256(identity secret, user.id)).",
        security=[],
        status_code=201,
        sync_to_thread=True,
    )
    def create_visitor(
        self, request: Req, public_id: PublicId, data: JSONBody[VisitorIn]
    ) -> VisitorOut:
        svc = services_of(request)
        site = _site(request, public_id)
        config = widget_settings.load(svc.db, svc.keys, site.workspace_id)
        user = (
            visitors.UserClaim(data.user.id, data.user.email, data.user.name, data.user.hash)
            if data.user
            else None
        )
        visitor = visitors.create(svc.db, config, site.workspace_id, locale=data.locale, user=user)
        token = visitors.issue_token(svc.keys, site.workspace_id, visitor.public_id)
        info = VisitorInfo(visitor.public_id, visitor.verified, visitor.name, visitor.email)
        return VisitorOut(token, info)

    @get("/conversation", summary="The visitor's current conversation", sync_to_thread=True)
    def conversation(self, request: Req, public_id: PublicId) -> CurrentOut:
        svc, _, visitor = _visitor(request, public_id)
        conversation, messages = conversations.current(svc.db, visitor)
        return msgspec.convert({"conversation": conversation, "messages": messages}, CurrentOut)

    @post(
        "/messages",
        summary="Send a message",
        description="202: stored; in state `bot` the assistant's answer streams on /events. "
        "200: this client_id was sent before; nothing new was stored.",
        status_code=202,
    )
    async def post_message(
        self, request: Req, public_id: PublicId, data: JSONBody[MessageIn]
    ) -> Response[PostedOut]:
        # One trip to a worker thread: under load each trip is a wait for the pool.
        posted, site, visitor = await anyio.to_thread.run_sync(
            _post_message, request, public_id, data
        )
        svc = services_of(request)
        body = msgspec.convert(
            {"message": posted.message, "conversation": posted.conversation}, PostedOut
        )
        if not posted.created:
            return Response(body, status_code=200)
        if posted.state == "bot":
            ask = Ask(
                site.workspace_id,
                site.name,
                visitor.id,
                posted.conversation_id,
                posted.message_id,
                posted.message["content"],
                visitor.verified,
            )
            svc.live.answers.start(svc.answerer, svc.live, ask)
        return Response(body, status_code=202)

    @get(
        "/events",
        summary="Live events of the visitor's conversation (Server-Sent Events)",
        description="`conversation` first, then every `message` after `after` (or "
        "Last-Event-ID), then live: message, conversation, answer.delta, answer.status, "
        "typing. Only `message` events carry ids. At most 5 open streams per visitor.",
    )
    async def events(
        self,
        request: Req,
        public_id: PublicId,
        after: Annotated[int | None, Parameter(ge=0, le=MAX_AFTER)] = None,
        token: Annotated[str, Parameter(max_length=200)] = "",
    ) -> Stream:
        svc, _, visitor = await anyio.to_thread.run_sync(_visitor, request, public_id, token)
        # Each open stream holds memory: a few tabs per visitor, not a flood of them.
        if svc.live.broker.visitors.count_of(visitor.id) >= MAX_STREAMS_PER_VISITOR:
            raise Throttled("Too many open connections for this visitor; close one.", 5)
        last = request.headers.get("last-event-id", "").strip()
        if after is None:
            after = int(last) if last.isdigit() and len(last) < 19 else 0
        return Stream(
            visitor_events(svc.db, svc.live, visitor, after),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    @post(
        "/typing",
        summary="The visitor is typing (or stopped)",
        status_code=204,
        sync_to_thread=True,
    )
    def typing(self, request: Req, public_id: PublicId, data: JSONBody[TypingIn]) -> None:
        svc, site, visitor = _visitor(request, public_id)
        key = str(visitor.id)
        wait = svc.live.typing.retry_after(key)
        if wait:
            raise Throttled("Typing updates are limited; slow down.", wait)
        svc.live.typing.hit(key)
        found = conversations.current_state(svc.db, visitor)
        if found is not None and found[1] != "resolved":
            svc.live.visitor_typing(site.workspace_id, found[0], data.active)

    @post("/handoff", summary="Ask for a person", status_code=200, sync_to_thread=True)
    def handoff(
        self, request: Req, public_id: PublicId, data: JSONBody[HandoffIn | None] = None
    ) -> ConversationWrap:
        svc, site, visitor = _visitor(request, public_id)
        if not site.handoff_enabled:
            raise UserError("This chat does not offer a person.", "handoff")
        changed = routing.request_handoff(
            svc.db,
            visitor,
            data.page_url if data else "",
            request.headers.get("user-agent", ""),
        )
        svc.live.conversation_changed(site.workspace_id, changed)
        if changed.handed_off:
            svc.handoff_mail.handoff(site.workspace_id)
        return _wrap_conversation(svc, visitor)

    @post(
        "/messages/{message_id:int}/feedback",
        summary="Thumbs up or down for an answer",
        status_code=200,
        sync_to_thread=True,
    )
    def feedback(
        self,
        request: Req,
        public_id: PublicId,
        message_id: Annotated[int, Parameter(ge=1, le=MAX_AFTER)],
        data: JSONBody[FeedbackIn],
    ) -> MessageWrap:
        svc, site, visitor = _visitor(request, public_id)
        routing.give_feedback(svc.db, visitor, message_id, data.rating)
        public, _ = conversations.stored_message(svc.db, site.workspace_id, message_id)
        return msgspec.convert({"message": public}, MessageWrap)

    @post(
        "/rating",
        summary="Rate a resolved conversation",
        description="409 while the conversation is not resolved.",
        status_code=200,
        sync_to_thread=True,
    )
    def rating(
        self, request: Req, public_id: PublicId, data: JSONBody[RatingIn]
    ) -> ConversationWrap:
        svc, site, visitor = _visitor(request, public_id)
        changed = routing.rate(svc.db, visitor, data.stars, data.comment)
        svc.live.conversation_changed(site.workspace_id, changed)
        return _wrap_conversation(svc, visitor)


def _post_message(
    request: Req, public_id: str, data: MessageIn
) -> tuple[conversations.Posted, Site, Visitor]:
    svc, site, visitor = _visitor(request, public_id)
    key = f"{site.workspace_id}:{visitor.id}"
    wait = svc.live.per_visitor.retry_after(key)
    if wait:
        raise Throttled(f"You are sending messages too quickly; wait {wait} s.", wait)
    posted = conversations.post_visitor_message(
        svc.db,
        visitor,
        data.content,
        data.client_id,
        data.page_url,
        request.headers.get("user-agent", ""),
    )
    if posted.created:
        svc.live.per_visitor.hit(key)
        svc.live.visitor_message(site.workspace_id, visitor, posted)
    return posted, site, visitor


def _wrap_conversation(svc: Services, visitor: Visitor) -> ConversationWrap:
    conversation, _ = conversations.current(svc.db, visitor)
    return msgspec.convert({"conversation": conversation}, ConversationWrap)
