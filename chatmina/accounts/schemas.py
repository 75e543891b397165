"""JSON shapes of the accounts API. Constraints here become 400 problem+json on bad input."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec
from litestar.params import Parameter

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254)]

# An object id in a URL. SQLite integers are 64-bit: a longer number would overflow in the
# driver and answer 500, so it is refused up front as invalid input.
RowId = Annotated[int, Parameter(ge=1, le=2**63 - 1)]


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
