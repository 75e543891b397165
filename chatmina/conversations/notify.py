"""Telling the team that a visitor waits for a person while nobody has the inbox open.

Whoever has the inbox open sees a handoff live; otherwise the workspace's owners, admins
and agents get an email (when the workspace wants it: Widget settings). At most one email
per workspace every ten minutes, so a burst of handoffs, or a visitor abusing the button,
sends one message, not hundreds. The email names how many conversations wait and links to
them; it never carries what the visitor wrote.
"""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy import func, select

from chatmina import clock
from chatmina.accounts import service as accounts
from chatmina.accounts.models import Workspace
from chatmina.accounts.roles import Permission, can
from chatmina.conversations.broker import Broker
from chatmina.conversations.models import Conversation, WidgetSettings
from chatmina.mail.service import Mailer
from chatmina.storage.db import Database

COOLDOWN = dt.timedelta(minutes=10)


class HandoffMail:
    def __init__(self, db: Database, mailer: Mailer, broker: Broker, base_url: str) -> None:
        self.db = db
        self.mailer = mailer
        self.broker = broker
        self.base_url = base_url
        self._last: dict[int, dt.datetime] = {}  # workspace id -> its last email's time
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="handoff-mail")
        self.last_sent: Future[int] | None = None  # lets tests wait for the emails

    def wanted(self, workspace_id: int) -> bool:
        with self.db.read() as s:
            enabled = s.scalar(
                select(WidgetSettings.notify_by_email).where(
                    WidgetSettings.workspace_id == workspace_id
                )
            )
        return enabled is not False  # no settings saved yet: the default, on

    def handoff(self, workspace_id: int) -> bool:
        """After a visitor's handoff was committed: email the team, in the background, if
        nobody watches the inbox. Returns whether emails are on their way."""
        if self.broker.inboxes.count_of(workspace_id) or not self.wanted(workspace_id):
            return False
        now = clock.now()
        with self._lock:
            last = self._last.get(workspace_id)
            if last is not None and now - last < COOLDOWN:
                return False
            self._last[workspace_id] = now
        self.last_sent = self._pool.submit(self._send, workspace_id)
        return True

    def _send(self, workspace_id: int) -> int:
        with self.db.read() as s:
            workspace = s.get(Workspace, workspace_id)
            waiting = s.scalar(
                select(func.count())
                .select_from(Conversation)
                .where(Conversation.workspace_id == workspace_id, Conversation.state == "waiting")
            )
        if workspace is None:
            return 0  # deleted meanwhile
        team = [
            m
            for m in accounts.list_members(self.db, workspace_id)
            if can(m.role, Permission.HANDLE_CONVERSATIONS)
        ]
        return self.mailer.send_to_each(
            [(m.email, m.name) for m in team],
            "handoff_waiting",
            {
                "workspace": workspace.name,
                "waiting": waiting or 1,
                "link": f"{self.base_url}/w/{workspace.slug}/inbox?view=waiting",
            },
            "a waiting visitor",
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
