"""Encryption of stored secrets, and the HMAC helpers behind tokens.

Secrets (SMTP passwords, provider API keys, webhook signing secrets) are encrypted with
AES-256-GCM on top of the database encryption, bound to the row they belong to through the
associated data: a ciphertext copied into another row does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"


class DecryptionError(Exception):
    """A stored secret does not decrypt with this key and row identity."""


def encrypt(key: bytes, plaintext: str, identity: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), identity.encode())
    return _VERSION + ":" + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt(key: bytes, stored: str, identity: str) -> str:
    version, _, body = stored.partition(":")
    if version != _VERSION:
        raise DecryptionError(f"unknown secret format {version!r}")
    try:
        raw = base64.urlsafe_b64decode(body)
        return AESGCM(key).decrypt(raw[:12], raw[12:], identity.encode()).decode()
    except (InvalidTag, ValueError):  # ValueError: truncated or not base64 (binascii.Error)
        raise DecryptionError(f"secret for {identity} does not decrypt") from None


def keyed_hash(key: bytes, value: str) -> str:
    """HMAC-SHA256 of a token, for storing tokens so that a database copy cannot replay them."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def mask(secret: str) -> str:
    """A secret as it may appear in output: enough to recognise, not enough to use."""
    if not secret:
        return ""
    if len(secret) <= 8:
        return "********"
    return secret[:4] + "…" + secret[-2:]
