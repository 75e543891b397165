"""The public widget API's bodies (msgspec), as the OpenAPI document shows them."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

Url = Annotated[str, Meta(max_length=2000)]
Short = Annotated[str, Meta(max_length=300)]


class Appearance(msgspec.Struct):
    title: str
    subtitle: str
    primary_color: str
    text_on_primary: str
    position: str
    avatar_url: str
    launcher_label: str


class WidgetConfigOut(msgspec.Struct):
    public_id: str
    name: str
    appearance: Appearance
    greeting: str
    suggestions: list[str]
    locale: str
    strings: dict[str, str]
    identity: Literal["off", "optional", "required"]
    handoff_enabled: bool


class UserIn(msgspec.Struct, forbid_unknown_fields=True):
    """The host site's signed-in user; ``hash`` = hex HMAC-SHA256(identity secret, id)."""

    id: Annotated[str, Meta(min_length=1, max_length=200)]
    email: Short = ""
    name: Short = ""
    hash: Annotated[str, Meta(max_length=128)] = ""


class VisitorIn(msgspec.Struct, forbid_unknown_fields=True):
    locale: Annotated[str, Meta(max_length=20)] = ""
    page_url: Url = ""
    user: UserIn | None = None


class VisitorInfo(msgspec.Struct):
    id: str
    verified: bool
    name: str
    email: str


class VisitorOut(msgspec.Struct):
    visitor_token: str
    visitor: VisitorInfo


class ConversationOut(msgspec.Struct):
    id: int
    state: Literal["bot", "waiting", "assigned", "resolved"]
    assignee_name: str | None
    rating: int | None
    resolved_at: str | None


class SourceOut(msgspec.Struct):
    n: int
    title: str
    url: str
    heading: str


class MessageOut(msgspec.Struct):
    id: int
    conversation_id: int
    role: Literal["visitor", "assistant", "agent"]
    content: str
    created_at: str
    author_name: str | None
    sources: list[SourceOut]
    feedback: Literal["up", "down"] | None
    outcome: str | None
    client_id: str | None


class CurrentOut(msgspec.Struct):
    conversation: ConversationOut | None
    messages: list[MessageOut]


class MessageIn(msgspec.Struct, forbid_unknown_fields=True):
    content: str  # 1..2,000 characters after trimming; checked by the service
    client_id: Annotated[str, Meta(max_length=100)]
    page_url: Url = ""


class PostedOut(msgspec.Struct):
    message: MessageOut
    conversation: ConversationOut


class ConversationWrap(msgspec.Struct):
    conversation: ConversationOut


class MessageWrap(msgspec.Struct):
    message: MessageOut


class TypingIn(msgspec.Struct, forbid_unknown_fields=True):
    active: bool


class HandoffIn(msgspec.Struct):
    page_url: Url = ""


class FeedbackIn(msgspec.Struct, forbid_unknown_fields=True):
    rating: Literal["up", "down"]


class RatingIn(msgspec.Struct, forbid_unknown_fields=True):
    stars: Annotated[int, Meta(ge=1, le=5)]
    comment: Annotated[str, Meta(max_length=1000)] = ""
