"""What every request handler can reach: the app's services and who is asking."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from chatmina.accounts.models import User, Workspace
from chatmina.accounts.passwords import Passwords
from chatmina.accounts.service import SessionPolicy
from chatmina.assistant.pipeline import Answerer
from chatmina.conversations.live import Live
from chatmina.conversations.notify import HandoffMail
from chatmina.events import EventBus
from chatmina.knowledge.embedding_sets import Vectors
from chatmina.knowledge.jobs import KnowledgeJobs
from chatmina.mail.service import Mailer
from chatmina.ratelimit import RateLimiter
from chatmina.settings import Settings
from chatmina.storage.db import Database
from chatmina.storage.keys import Keys


@dataclass
class Services:
    settings: Settings
    keys: Keys
    db: Database
    passwords: Passwords
    mailer: Mailer
    session_policy: SessionPolicy
    login_per_account: RateLimiter
    login_per_ip: RateLimiter
    public_per_ip: RateLimiter
    vectors: Vectors  # which embedding set search uses; swapped when a re-embedding ends
    knowledge: KnowledgeJobs  # import jobs and re-embedding, in background threads
    answerer: Answerer  # questions in, cited answers out
    live: Live  # widget rate limits and live updates (widget streams, inboxes)
    handoff_mail: HandoffMail  # emails the team when a visitor waits and nobody watches
    setup_token: str | None = None  # set while no user exists; printed at start-up
    trusted_proxies: frozenset[str] = field(default_factory=frozenset)

    @property
    def events(self) -> EventBus:
        """Emitted in write transactions: the database's own bus."""
        return self.db.events


@dataclass
class Auth:
    """Filled in by the auth middleware for every HTTP request."""

    user: User | None = None
    session_id: int | None = None
    workspace: Workspace | None = None  # the /w/<slug>/ workspace, if the user is a member
    role: str | None = None
    api_workspace: Workspace | None = None  # the workspace of a valid Bearer API key
    ip: str = ""


def client_ip(scope: Any, trusted: frozenset[str]) -> str:
    client = scope.get("client")
    peer = client[0] if client else ""
    if peer in trusted:
        for name, value in scope.get("headers", []):
            if name == b"x-forwarded-for":
                candidate = value.decode("latin-1").split(",")[-1].strip()
                try:
                    return str(ipaddress.ip_address(candidate))
                except ValueError:
                    break
    return peer


def get_auth(scope: Any) -> Auth:
    auth = scope.get("state", {}).get("auth")
    return auth if isinstance(auth, Auth) else Auth()
