"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

Receivers verify what Chatmina sends with any Standard Webhooks library: the body is signed
with HMAC-SHA256 over ``"<webhook-id>.<webhook-timestamp>.<body>"`` using the decoded
``whsec_`` secret. During a secret rotation the previous secret keeps signing for 24 hours,
so the ``webhook-signature`` header carries one ``v1,<signature>`` per valid secret and a
receiver holding either one accepts the request.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 (a format prefix, not a secret)
_SECRET_BYTES = 32
ROTATION_OVERLAP = dt.timedelta(hours=24)  # how long a rotated-out secret keeps signing


def previous_still_signs(expires_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether a rotated-out secret still signs (AI Functions and webhooks share the rule)."""
    return expires_at is not None and now < expires_at


def new_secret() -> str:
    """A new signing secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def new_message_id() -> str:
    """A webhook-id: stable for one message across all its attempts, so receivers de-duplicate."""
    return "msg_" + secrets.token_urlsafe(18)


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a signing secret is 'whsec_' followed by base64") from None
    if not key:
        raise ValueError("a signing secret may not be empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` of one message."""
    signed = msg_id.encode() + b"." + str(int(timestamp)).encode() + b"." + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_headers(
    secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers; one signature per secret (current first)."""
    if not secrets_:
        raise ValueError("at least one signing secret is needed")
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": " ".join(sign(s, msg_id, timestamp, body) for s in secrets_),
    }
