"""JSON shapes of the accounts API. Constraints here become 400 problem+json on bad input."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254)]


class WorkspaceOut(msgspec.Struct):
    slug: str
    public_id: str
    name: str
    created_at: dt.datetime


class MemberOut(msgspec.Struct):
    user_id: int
    name: str
    email: str
    role: str
    joined_at: dt.datetime


class InvitationIn(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    role: Literal["admin", "agent"] = "agent"


class InvitationOut(msgspec.Struct):
    id: int
    email: str
    role: str
    created_at: dt.datetime
    expires_at: dt.datetime
    email_sent_via: str | None = None
