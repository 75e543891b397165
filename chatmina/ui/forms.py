"""Reading HTML form posts safely: every field is one string of bounded length."""

from __future__ import annotations

from typing import Annotated, Any

from litestar.enums import RequestEncodingType
from litestar.params import Body

from chatmina.errors import UserError

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]

MAX_FIELD = 10_000
MAX_REQUEST_BODY = 2 * 1024 * 1024  # bytes, for any request (uploads included)


def text(data: dict[str, Any], name: str, max_length: int = MAX_FIELD) -> str:
    """The field's value ("" when missing). Repeated or oversized fields are errors."""
    value = data.get(name, "")
    if not isinstance(value, str):
        raise UserError("Send this field once.", name)
    if len(value) > max_length:
        raise UserError(f"Use at most {max_length:,} characters.", name)
    return value


def echo(data: dict[str, Any], name: str, max_length: int = 200) -> str:
    """The field's value to show again in a form after an error. Never raises: calling
    ``text`` here would replace the real error with a second one about the echo's limit."""
    value = data.get(name, "")
    return value[:max_length] if isinstance(value, str) else ""


def checked(data: dict[str, Any], name: str) -> bool:
    return data.get(name) in ("on", "1", "true")
