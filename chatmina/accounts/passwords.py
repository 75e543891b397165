"""Password hashing with argon2id (RFC 9106 low-memory profile)."""

from __future__ import annotations

from functools import cached_property

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from chatmina.errors import UserError

MIN_LENGTH = 10
MAX_LENGTH = 512

_PROFILES = {
    "rfc9106-low-memory": profiles.RFC_9106_LOW_MEMORY,
    # Only for the test suite: makes hashing ~1,000x cheaper.
    "insecure-fast": profiles.CHEAPEST,
}


class Passwords:
    def __init__(self, profile: str) -> None:
        self._hasher = PasswordHasher.from_parameters(_PROFILES[profile])

    @cached_property
    def _decoy(self) -> str:
        # Verified against when no account matches, so a wrong email costs the same time
        # as a wrong password and timing does not reveal which accounts exist. Made on first
        # use, not at start-up: one hash costs ~120 ms and 64 MiB.
        return self._hasher.hash("decoy password for unknown accounts")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash or self._decoy, password) and bool(stored_hash)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)


def check_new_password(password: str, field: str = "password") -> None:
    if len(password) < MIN_LENGTH:
        raise UserError(f"Use at least {MIN_LENGTH} characters.", field)
    if len(password) > MAX_LENGTH:
        raise UserError(f"Use at most {MAX_LENGTH} characters.", field)
    if password.strip() != password and not password.strip():
        raise UserError("A password cannot be only spaces.", field)
