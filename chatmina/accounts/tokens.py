"""Signed, single-use, expiring tokens for links sent by email.

A token is ``<row id>.<nonce>.<signature>``. The signature (HMAC with the signing key)
binds the purpose, so a password-reset token never works as an invitation; the row holds a
keyed hash of the nonce, the expiry and when it was used, which makes it single-use.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy.orm import Session

from chatmina import clock
from chatmina.accounts.models import OneTimeToken
from chatmina.errors import UserError
from chatmina.storage.crypto import keyed_hash


class InvalidToken(UserError):
    type = "invalid-link"
    title = "Link not valid"


def _signature(key: bytes, purpose: str, token_id: int, nonce: str) -> str:
    message = f"{purpose}:{token_id}:{nonce}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def issue(
    s: Session, key: bytes, purpose: str, lifetime: dt.timedelta, user_id: int | None = None
) -> tuple[OneTimeToken, str]:
    nonce = secrets.token_urlsafe(24)
    now = clock.now()
    row = OneTimeToken(
        purpose=purpose,
        nonce_hash=keyed_hash(key, nonce),
        user_id=user_id,
        created_at=now,
        expires_at=now + lifetime,
    )
    s.add(row)
    s.flush()
    return row, f"{row.id}.{nonce}.{_signature(key, purpose, row.id, nonce)}"


def check(s: Session, key: bytes, purpose: str, token: str) -> OneTimeToken:
    """Return the token's row if the token is genuine, unused and unexpired."""
    try:
        raw_id, nonce, signature = token.split(".")
        token_id = int(raw_id)
    except ValueError:
        raise InvalidToken("This link is incomplete. Copy the whole link from the email.") from None
    # Bytes, not str: compare_digest raises TypeError on non-ASCII text from a pasted link.
    expected = _signature(key, purpose, token_id, nonce)
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        raise InvalidToken("This link is not valid. Copy the whole link from the email.")
    row = s.get(OneTimeToken, token_id)
    if row is None or row.purpose != purpose or row.nonce_hash != keyed_hash(key, nonce):
        raise InvalidToken("This link is no longer valid.")
    if row.used_at is not None:
        raise InvalidToken("This link has already been used.")
    if row.expires_at <= clock.now():
        raise InvalidToken("This link has expired. Ask for a new one.")
    return row


def consume(row: OneTimeToken) -> None:
    row.used_at = clock.now()
