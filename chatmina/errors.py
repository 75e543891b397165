"""Errors a user can cause. Routes turn them into a form message or a problem+json body.

``type`` is stable: API clients may branch on it. Anything else raised is a bug.
"""

from __future__ import annotations


class UserError(Exception):
    status_code = 400
    type = "invalid-input"
    title = "Invalid input"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(UserError):
    status_code = 404
    type = "not-found"
    title = "Not found"


class Forbidden(UserError):
    status_code = 403
    type = "forbidden"
    title = "Not allowed"


class Conflict(UserError):
    status_code = 409
    type = "conflict"
    title = "Conflict"


class Unavailable(UserError):
    """A provider the admin configured (embeddings, later the LLM) failed or is unreachable."""

    status_code = 503
    type = "unavailable"
    title = "Service unavailable"


class Throttled(UserError):
    status_code = 429
    type = "rate-limited"
    title = "Too many requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
