"""Widget visitors: who they are, the token that proves it, and verified identities.

A visitor token is signed by the server (HMAC with a sub-key of the signing key), so
checking one costs no database read; it names its workspace, and a token of another
workspace, a changed one, or one older than a year is refused. With identity
verification, the business's backend gives the widget ``hash = hex(HMAC-SHA256(identity
secret, user id))``; only then are the user id, email and name trusted.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from chatmina import clock
from chatmina.accounts.models import Workspace
from chatmina.conversations.models import Visitor
from chatmina.conversations.widget_settings import WidgetConfig
from chatmina.errors import NotFound, UserError
from chatmina.storage.db import Database
from chatmina.storage.keys import Keys

TOKEN_LIFETIME = dt.timedelta(days=365)
_PREFIX = "vt1"


class TokenInvalid(UserError):
    status_code = 401
    type = "visitor-token-invalid"
    title = "Visitor token not valid"


class IdentityInvalid(UserError):
    status_code = 401
    type = "identity-invalid"
    title = "Identity not verified"


@dataclass(frozen=True)
class UserClaim:
    """What the widget says about the signed-in user of the host site."""

    id: str
    email: str = ""
    name: str = ""
    hash: str = ""


def _token_key(keys: Keys) -> bytes:
    return hmac.new(keys.signing, b"widget-visitor-token", hashlib.sha256).digest()


def _signature(keys: Keys, body: str) -> str:
    mac = hmac.new(_token_key(keys), body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def issue_token(keys: Keys, workspace_id: int, visitor_public_id: str) -> str:
    issued = int(clock.now().timestamp())
    body = f"{_PREFIX}.{workspace_id}.{visitor_public_id}.{issued}"
    return f"{body}.{_signature(keys, body)}"


def read_token(keys: Keys, workspace_id: int, token: str) -> str:
    """The visitor's public id, if ``token`` is genuine, current and of this workspace."""
    parts = token.strip().split(".")
    if len(parts) != 5 or parts[0] != _PREFIX or len(token) > 200:
        raise TokenInvalid("This visitor token is not valid; create a new visitor.")
    body, signature = ".".join(parts[:4]), parts[4]
    if not hmac.compare_digest(signature.encode(), _signature(keys, body).encode()):
        raise TokenInvalid("This visitor token is not valid; create a new visitor.")
    _, ws, public_id, issued = parts[:4]
    if ws != str(workspace_id):
        raise TokenInvalid("This visitor token belongs to another workspace.")
    issued_at = dt.datetime.fromtimestamp(int(issued), dt.UTC)
    if clock.now() - issued_at > TOKEN_LIFETIME:
        raise TokenInvalid("This visitor token has expired; create a new visitor.")
    return public_id


def identity_hash(secret: str, user_id: str) -> str:
    """What the business's backend computes for a user (shown in the docs and snippet)."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def _verify(config: WidgetConfig, user: UserClaim | None) -> bool:
    """Whether ``user`` is a verified identity; raises when the workspace requires one."""
    mode = config.identity_verification
    if mode == "off" or user is None:
        if mode == "required":
            raise IdentityInvalid("This chat needs you to be signed in on the website.", "user")
        return False
    if not user.hash:
        if mode == "required":
            raise IdentityInvalid("The user's identity hash is missing.", "user.hash")
        return False
    expected = identity_hash(config.identity_secret, user.id)
    if not config.identity_secret or not hmac.compare_digest(
        expected.encode(), user.hash.strip().lower().encode()
    ):
        raise IdentityInvalid("The user's identity hash does not match.", "user.hash")
    return True


def _clip(text: str, limit: int) -> str:
    return " ".join(text.split())[:limit]


def create(
    db: Database,
    config: WidgetConfig,
    workspace_id: int,
    *,
    locale: str = "",
    user: UserClaim | None = None,
) -> Visitor:
    """A new visitor, or, for a verified user seen before, that user's visitor."""
    verified = _verify(config, user)
    now = clock.now()
    with db.write() as s:
        # The widget's workspace is cached for a few seconds; it may have been deleted since.
        if s.get(Workspace, workspace_id) is None:
            raise NotFound("No such widget.")
        visitor = None
        if verified and user is not None:
            visitor = s.scalar(
                select(Visitor).where(
                    Visitor.workspace_id == workspace_id, Visitor.external_user_id == user.id
                )
            )
        if visitor is None:
            visitor = Visitor(
                workspace_id=workspace_id,
                public_id="v_" + secrets.token_urlsafe(15),
                verified=verified,
                external_user_id=user.id if verified and user else None,
                first_seen=now,
            )
            s.add(visitor)
        if user is not None:
            visitor.email = _clip(user.email, 254).lower()
            visitor.name = _clip(user.name, 100)
        visitor.locale = _clip(locale, 20)
        visitor.last_seen = now
        s.flush()
        return visitor


def find(db: Database, workspace_id: int, public_id: str) -> Visitor:
    with db.read() as s:
        visitor = s.scalar(select(Visitor).where(Visitor.public_id == public_id))
    if visitor is None or visitor.workspace_id != workspace_id:
        raise TokenInvalid("This visitor no longer exists; create a new visitor.")
    return visitor
