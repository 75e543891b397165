"""The live side of conversations: rate limits, the broker, and what each change sends.

Every publish happens after the change was committed. The widget gets JSON (the public
shapes of service.py); the inbox gets the same HTML the page renders (list rows and
transcript entries from the inbox templates), so a live update looks exactly like a
reload.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chatmina.accounts.models import Workspace
from chatmina.conversations import inbox
from chatmina.conversations import service as conversations
from chatmina.conversations.answers import Answers
from chatmina.conversations.broker import Broker, Frame
from chatmina.conversations.models import Conversation, Message, Visitor, WidgetSettings
from chatmina.conversations.routing import Changed
from chatmina.conversations.service import Posted
from chatmina.errors import NotFound
from chatmina.ratelimit import RateLimiter
from chatmina.settings import Settings
from chatmina.storage.db import Database

SITE_TTL_S = 5.0
TYPING_PER_MINUTE = 60


def frame(event: str, data: Any, message_id: int | None = None) -> Frame:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head = f"event: {event}\n" + (f"id: {message_id}\n" if message_id is not None else "")
    return Frame(f"{head}data: {body}\n\n".encode(), message_id)


@dataclass(frozen=True)
class Site:
    """A workspace as the public widget API knows it (cached: read on every request)."""

    workspace_id: int
    public_id: str
    name: str
    allowed_origins: frozenset[str]
    handoff_enabled: bool
    loaded: float


class Live:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.broker = Broker()
        self.answers = Answers()
        self.per_visitor = RateLimiter(settings.widget_messages_per_minute, 60)
        self.per_ip = RateLimiter(settings.widget_requests_per_minute, 60)
        self.typing = RateLimiter(TYPING_PER_MINUTE, 60)
        self.jinja: Any = None  # the app's Jinja environment, for inbox HTML
        self._sites: dict[str, Site] = {}
        self._sites_lock = threading.Lock()
        self._slugs: dict[int, tuple[str, float]] = {}

    # -- workspaces by public id -------------------------------------------------------

    def cached_site(self, public_id: str) -> Site | None:
        with self._sites_lock:
            cached = self._sites.get(public_id)
        if cached is not None and time.monotonic() - cached.loaded < SITE_TTL_S:
            return cached
        return None

    def site(self, public_id: str) -> Site:
        cached = self.cached_site(public_id)
        if cached is not None:
            return cached
        now = time.monotonic()
        with self.db.read() as s:
            workspace = s.scalar(select(Workspace).where(Workspace.public_id == public_id))
            widget = (
                s.execute(
                    select(WidgetSettings.allowed_origins, WidgetSettings.handoff_enabled).where(
                        WidgetSettings.workspace_id == workspace.id
                    )
                ).first()
                if workspace
                else None
            )
        if workspace is None:
            raise NotFound("No such widget.")
        origins, handoff = widget if widget is not None else ((), True)  # no row: the defaults
        site = Site(workspace.id, public_id, workspace.name, frozenset(origins), handoff, now)
        with self._sites_lock:
            if len(self._sites) > 10_000:
                self._sites.clear()
            self._sites[public_id] = site
        return site

    def forget_site(self, public_id: str) -> None:
        with self._sites_lock:
            self._sites.pop(public_id, None)

    def forget_site_all(self) -> None:
        with self._sites_lock:
            self._sites.clear()

    # -- publishing (call after the commit; may run in a worker thread) ----------------

    def _render(self, template: str, **context: Any) -> str:
        if self.jinja is None:
            return ""
        return str(self.jinja.get_template(template).render(**context))

    def _slug(self, workspace_id: int) -> str:
        """The workspace's slug, for links in live HTML (cached like sites)."""
        now = time.monotonic()
        with self._sites_lock:
            cached = self._slugs.get(workspace_id)
        if cached is not None and now - cached[1] < SITE_TTL_S:
            return cached[0]
        with self.db.read() as s:
            slug = s.scalar(select(Workspace.slug).where(Workspace.id == workspace_id)) or ""
        with self._sites_lock:
            self._slugs[workspace_id] = (slug, now)
        return slug

    def conversation_changed(self, workspace_id: int, changed: Changed) -> None:
        """A conversation's state, assignee or rating changed: the visitor and the list row."""
        with self.db.read() as s:
            conversation = s.get(Conversation, changed.conversation_id)
            assert conversation is not None
            visitor, names = _people(s, conversation)
        self._state(conversation, names)
        self._send_row(workspace_id, conversation, visitor, names)

    def message_added(
        self, workspace_id: int, changed: Changed, *, state_changed: bool = False
    ) -> None:
        """A stored message (or note) reaches the visitor (never a note) and the inbox;
        the list row follows. ``state_changed``: the same change also moved the
        conversation (an agent's reply takes it), sent first, in the same read."""
        assert changed.message_id is not None
        with self.db.read() as s:
            message = s.get(Message, changed.message_id)
            if message is None or message.workspace_id != workspace_id:
                return
            conversation = s.get(Conversation, message.conversation_id)
            assert conversation is not None
            visitor, names = _people(s, conversation, message.author_id)
        if state_changed:
            self._state(conversation, names)
        self._message(workspace_id, message, conversation, names)
        self._send_row(workspace_id, conversation, visitor, names)

    def visitor_message(self, workspace_id: int, visitor: Visitor, posted: Posted) -> None:
        """A visitor's new message, from the rows its transaction committed (no reads)."""
        assert posted.rows is not None
        message, conversation = posted.rows
        names = {conversation.assignee_id or 0: posted.assignee_name or ""}
        if posted.new_conversation:
            self._state(conversation, names)  # the visitor first learns its state
        self._message(workspace_id, message, conversation, names)
        self._send_row(workspace_id, conversation, visitor, names)

    def _state(self, conversation: Conversation, names: dict[int, str]) -> None:
        if conversation.state != "bot":
            self.answers.stop(conversation.id)  # the assistant is silent while a person handles it
        if conversation.visitor_id is not None:
            public = conversations.public_conversation(
                conversation, names.get(conversation.assignee_id or 0)
            )
            self.broker.to_visitor(conversation.visitor_id, frame("conversation", public))

    def _send_row(
        self,
        workspace_id: int,
        conversation: Conversation,
        visitor: Visitor | None,
        names: dict[int, str],
    ) -> None:
        if (
            conversation.workspace_id != workspace_id
            or conversation.channel != conversations.WIDGET
        ):
            return  # the inbox lists only this workspace's widget conversations
        row = inbox.as_row(conversation, visitor, names)
        html = self._render(
            "conversations/_row.html", row=row, current_id=None, slug=self._slug(workspace_id)
        )
        data = {
            "id": row.id,
            "state": row.state,
            "state_label": row.state_label,  # inbox.js shows it; one list of labels, here
            "assignee_id": row.assignee_id,
            "unread": row.unread,
            "html": html,
        }
        self.broker.to_inbox(workspace_id, frame("conversation", data))

    def _message(
        self,
        workspace_id: int,
        message: Message,
        conversation: Conversation,
        names: dict[int, str],
    ) -> None:
        visitor_id = conversation.visitor_id
        if visitor_id is not None and message.role != "note":
            public = conversations.public_message(message, names.get(message.author_id or 0))
            self.broker.to_visitor(visitor_id, frame("message", public, message.id))
        html = self._render("conversations/_entry.html", entry=inbox.as_entry(message, names))
        data = {
            "id": message.id,
            "conversation_id": message.conversation_id,
            "role": message.role,
            "html": html,
        }
        self.broker.to_inbox(workspace_id, frame("message", data))

    def visitor_typing(self, workspace_id: int, conversation_id: int, active: bool) -> None:
        data = {"conversation_id": conversation_id, "who": "visitor", "active": active}
        self.broker.to_inbox(workspace_id, frame("typing", data))

    def typing_to_visitor(self, visitor_id: int, who: str, name: str, active: bool) -> None:
        data = {"who": who, "name": name, "active": active}
        self.broker.to_visitor(visitor_id, frame("typing", data))

    def answer_delta(self, visitor_id: int, conversation_id: int, event: str, text: str) -> None:
        data = {"conversation_id": conversation_id, "text": text}
        self.broker.to_visitor(visitor_id, frame(event, data))


def _people(
    s: Session, conversation: Conversation, author_id: int | None = None
) -> tuple[Visitor | None, dict[int, str]]:
    """The conversation's visitor and the names of its assignee (and a message's author)."""
    visitor = s.get(Visitor, conversation.visitor_id) if conversation.visitor_id else None
    return visitor, conversations.user_names(s, {conversation.assignee_id, author_id})
