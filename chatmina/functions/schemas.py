"""JSON shapes of the functions API. Types are checked here; ranges and rules in
validation.py, so the API and the form give the same messages."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec

Method = Literal["POST", "PUT", "PATCH", "GET"]
Text = Annotated[str, msgspec.Meta(max_length=10_000)]
Url = Annotated[str, msgspec.Meta(max_length=4000)]
Headers = Annotated[dict[str, str], msgspec.Meta(max_length=100)]


class FunctionIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Text
    description: Text
    parameters: dict[str, Any]
    url: Url
    method: Method = "POST"
    timeout_seconds: int = 10
    headers: Headers = msgspec.field(default_factory=dict)
    enabled: bool = True
    only_verified: bool = False


class FunctionPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Only the fields sent are changed; ``headers`` replaces all extra headers."""

    name: Text | msgspec.UnsetType = msgspec.UNSET
    description: Text | msgspec.UnsetType = msgspec.UNSET
    parameters: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    url: Url | msgspec.UnsetType = msgspec.UNSET
    method: Method | msgspec.UnsetType = msgspec.UNSET
    timeout_seconds: int | msgspec.UnsetType = msgspec.UNSET
    headers: Headers | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    only_verified: bool | msgspec.UnsetType = msgspec.UNSET


class FunctionOut(msgspec.Struct, omit_defaults=True):
    id: int
    name: str
    description: str
    parameters: dict[str, Any]
    url: str
    method: str
    timeout_seconds: int
    headers: dict[str, str]  # values masked
    enabled: bool
    only_verified: bool
    secret_rotated_at: dt.datetime
    previous_secret_expires_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    # Only in the answers of create and rotate-secret: store it, it is not shown again.
    signing_secret: str | None = None


class CallOut(msgspec.Struct):
    id: int
    created_at: dt.datetime
    conversation_id: int | None
    webhook_id: str
    attempt: int
    test: bool
    ok: bool
    status: int | None
    latency_ms: float
    error: str
    arguments: Any
    response: str
