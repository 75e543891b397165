"""The master key and the sub-keys derived from it.

One 32-byte master key, found in this order: ``CHATMINA_MASTER_KEY_FILE``,
``CHATMINA_MASTER_KEY``, else ``<data dir>/master.key`` (created with mode 0600 on first
run, but never next to an existing database: a new key cannot open old data).
HKDF-SHA256 with a distinct label per purpose gives the sub-keys, so a leaked signing key
says nothing about the database key.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from chatmina.settings import Settings

KEY_FILE_NAME = "master.key"
DB_FILE_NAME = "chatmina.db"


class KeyError_(Exception):
    """The master key is missing, malformed or does not open the database."""


def _derive(master: bytes, label: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"chatmina:{label}".encode()
    ).derive(master)


@dataclass(frozen=True)
class Keys:
    """Sub-keys of one master key, and where that key came from (for error messages)."""

    database: bytes
    secrets: bytes
    signing: bytes
    source: str

    @classmethod
    def from_master(cls, master: bytes, source: str) -> Keys:
        if len(master) != 32:
            raise KeyError_(f"master key from {source} must be 32 bytes (64 hex characters)")
        return cls(
            database=_derive(master, "sqlcipher"),
            secrets=_derive(master, "secrets-aes-gcm"),
            signing=_derive(master, "signing-hmac"),
            source=source,
        )


def _parse_hex(text: str, source: str) -> bytes:
    try:
        master = bytes.fromhex(text.strip())
    except ValueError:
        raise KeyError_(f"master key from {source} is not 64 hex characters") from None
    if len(master) != 32:
        raise KeyError_(f"master key from {source} is not 64 hex characters")
    return master


def key_source(settings: Settings) -> str:
    """A human description of where the master key comes from."""
    source = settings.sources.get("master_key")
    if source and settings.master_key:
        return source
    return str(settings.data_path / KEY_FILE_NAME)


def load_keys(settings: Settings, *, create: bool = True) -> Keys:
    """Return the sub-keys, creating ``master.key`` only for a brand-new data directory."""
    if settings.master_key:
        source = key_source(settings)
        return Keys.from_master(_parse_hex(settings.master_key, source), source)
    key_path = settings.data_path / KEY_FILE_NAME
    if key_path.exists():
        return Keys.from_master(_parse_hex(key_path.read_text(), str(key_path)), str(key_path))
    if (settings.data_path / DB_FILE_NAME).exists():
        raise KeyError_(
            f"{settings.data_path / DB_FILE_NAME} exists but no master key was found "
            f"(looked for CHATMINA_MASTER_KEY_FILE, CHATMINA_MASTER_KEY and {key_path})"
        )
    if not create:
        raise KeyError_(f"no master key: {key_path} does not exist")
    return Keys.from_master(_create_key_file(key_path), str(key_path))


def _create_key_file(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    master = secrets.token_bytes(32)
    # O_EXCL: two processes starting at once must not each write a different key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(master.hex() + "\n")
    return master
