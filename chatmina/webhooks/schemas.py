"""JSON shapes of the webhook endpoints API. Constraints here become 400 problem+json."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
Pattern = Annotated[str, msgspec.Meta(min_length=1, max_length=60)]
Patterns = Annotated[list[Pattern], msgspec.Meta(min_length=1, max_length=20)]
Description = Annotated[str, msgspec.Meta(max_length=500)]


class EndpointIn(msgspec.Struct, forbid_unknown_fields=True):
    url: Url
    events: Patterns
    description: Description = ""
    enabled: bool = True


class EndpointPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Only the fields sent are changed; enabling clears an automatic disable."""

    url: Url | msgspec.UnsetType = msgspec.UNSET
    events: Patterns | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class EndpointOut(msgspec.Struct):
    id: str
    url: str
    description: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: dt.datetime | None
    previous_secret_expires_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class EndpointWithSecret(EndpointOut):
    signing_secret: str  # whsec_...: shown only in this answer; store it now
