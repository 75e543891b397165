"""What makes a function definition valid. Every check raises UserError naming the field,
before anything is written."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from chatmina.errors import UserError

NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
METHODS = ("POST", "PUT", "PATCH", "GET")
MAX_DESCRIPTION = 1000
MAX_SCHEMA_BYTES = 32 * 1024
MIN_TIMEOUT, MAX_TIMEOUT = 1, 30
MAX_HEADERS = 20
MAX_HEADER_VALUE = 4000
# RFC 9110 token characters.
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
# Chatmina sets these itself: the signature, the body's framing, the connection.
RESERVED_HEADERS = frozenset(
    {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "expect",
        "proxy-authorization",
        "user-agent",
        "accept-encoding",
    }
)


@dataclass(frozen=True)
class Definition:
    """A function as cleaned, ready to store. ``headers`` None: keep the stored ones."""

    name: str
    description: str
    parameters: dict[str, Any]
    url: str
    method: str
    timeout_seconds: int
    headers: dict[str, str] | None
    enabled: bool
    only_verified: bool


def clean_name(raw: str) -> str:
    name = raw.strip()
    if not NAME.match(name):
        raise UserError(
            "A function name is 1 to 64 letters, digits, _ or - (like order_status): "
            "it is the name the model calls.",
            "name",
        )
    return name


def clean_description(raw: str) -> str:
    text = raw.strip().replace("\r\n", "\n")
    if not text:
        raise UserError(
            "Describe what the function does and when to use it: the model decides from this.",
            "description",
        )
    if len(text) > MAX_DESCRIPTION:
        raise UserError(
            f"A description is limited to {MAX_DESCRIPTION:,} characters "
            f"(this one has {len(text):,}).",
            "description",
        )
    return text


def parse_schema_text(raw: str) -> Any:
    """The parameters field of the form: JSON text."""
    if not raw.strip():
        return {"type": "object", "properties": {}}
    try:
        return json.loads(raw)
    except ValueError as error:
        raise UserError(f"The parameters are not valid JSON: {error}.", "parameters") from None


def _refs(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                found.append(value)
            else:
                found.extend(_refs(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_refs(item))
    return found


def _anchors(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("$anchor", "$dynamicAnchor") and isinstance(value, str):
                found.add(value)
            else:
                found |= _anchors(value)
    elif isinstance(node, list):
        for item in node:
            found |= _anchors(item)
    return found


def _resolves(schema: dict[str, Any], ref: str) -> bool:
    """Whether a local reference ("#", "#/$defs/x" or "#anchor") points at something."""
    fragment = unquote(ref[1:])
    if not fragment.startswith("/"):
        return fragment == "" or fragment in _anchors(schema)
    node: Any = schema
    for part in fragment[1:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def clean_parameters(schema: Any) -> dict[str, Any]:
    """A valid JSON Schema (Draft 2020-12) of an object: what the model must send."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if not isinstance(schema, dict):
        raise UserError(
            'The parameters must be a JSON Schema object, like {"type": "object", '
            '"properties": {"order_id": {"type": "string"}}}.',
            "parameters",
        )
    if len(json.dumps(schema)) > MAX_SCHEMA_BYTES:
        raise UserError("The parameters schema is larger than 32 KB.", "parameters")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        where = "/".join(str(p) for p in error.absolute_path)
        at = f" (at {where})" if where else ""
        raise UserError(
            f"The parameters are not a valid JSON Schema{at}: {error.message}.", "parameters"
        ) from None
    if schema.get("type") != "object":
        raise UserError(
            'The parameters must describe an object: give the schema "type": "object".',
            "parameters",
        )
    for ref in _refs(schema):
        if not ref.startswith("#"):
            # A schema that points elsewhere could not be checked without fetching it.
            raise UserError(
                f"The parameters may only refer to their own definitions ('#/...'), not to {ref}.",
                "parameters",
            )
        if not _resolves(schema, ref):
            # It would fail at the first call, in the middle of a visitor's answer.
            raise UserError(
                f"The parameters refer to {ref}, which the schema does not define.",
                "parameters",
            )
    return schema


def clean_method(raw: str) -> str:
    method = raw.strip().upper()
    if method not in METHODS:
        raise UserError("The method must be POST, PUT, PATCH or GET.", "method")
    return method


def clean_timeout(raw: int | str) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = 0
    if not MIN_TIMEOUT <= value <= MAX_TIMEOUT or isinstance(raw, bool):
        raise UserError(
            f"The timeout must be a whole number of seconds from {MIN_TIMEOUT} to {MAX_TIMEOUT}.",
            "timeout_seconds",
        )
    return value


def clean_headers(headers: dict[str, Any]) -> dict[str, str]:
    if len(headers) > MAX_HEADERS:
        raise UserError(f"At most {MAX_HEADERS} extra headers.", "headers")
    cleaned: dict[str, str] = {}
    for raw_name, value in headers.items():
        name = str(raw_name).strip()
        if not HEADER_NAME.match(name):
            raise UserError(
                f"'{name[:60]}' is not a valid header name (letters, digits and - only).",
                "headers",
            )
        if name.lower() in RESERVED_HEADERS:
            raise UserError(
                f"The header {name} is set by Chatmina and cannot be changed.", "headers"
            )
        if name.lower() in {n.lower() for n in cleaned}:
            raise UserError(f"The header {name} is given twice.", "headers")
        if not isinstance(value, str):
            raise UserError(f"The value of the header {name} must be text.", "headers")
        text = value.strip()
        if (
            not text
            or len(text) > MAX_HEADER_VALUE
            or any(ord(c) < 32 or c == "\x7f" for c in text)
        ):
            raise UserError(
                f"The value of the header {name} must be 1 to {MAX_HEADER_VALUE:,} characters "
                "on one line.",
                "headers",
            )
        cleaned[name] = text
    return cleaned


def parse_header_lines(raw: str) -> dict[str, str]:
    """The headers field of the form: one "Name: value" per line."""
    headers: dict[str, str] = {}
    for number, line in enumerate(raw.replace("\r\n", "\n").split("\n"), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise UserError(
                f'Line {number} of the headers is not "Name: value" (like X-Api-Key: abc123).',
                "headers",
            )
        if name.strip() in headers:
            raise UserError(f"The header {name.strip()} is given twice.", "headers")
        headers[name.strip()] = value.strip()
    return headers


def clean_url(raw: str, allowed: frozenset[str]) -> str:
    from chatmina.webhooks.client import check_url

    url = raw.strip()
    if not url:
        raise UserError("Enter the URL Chatmina calls, like https://shop.example/orders.", "url")
    check_url(url, allowed)  # its length, scheme and address checks name the "url" field
    return url


@dataclass(frozen=True)
class Submitted:
    """A definition as a form or the API sent it, before any check."""

    name: str
    description: str
    parameters: Any  # the decoded JSON Schema
    url: str
    method: str
    timeout_seconds: int | str
    headers: dict[str, Any] | None  # None: keep the stored headers
    enabled: bool
    only_verified: bool


def clean(data: Submitted, allowed: frozenset[str]) -> Definition:
    """Check every field in form order; the first problem is raised, nothing is stored."""
    return Definition(
        name=clean_name(data.name),
        description=clean_description(data.description),
        parameters=clean_parameters(data.parameters),
        url=clean_url(data.url, allowed),
        method=clean_method(data.method),
        timeout_seconds=clean_timeout(data.timeout_seconds),
        headers=None if data.headers is None else clean_headers(data.headers),
        enabled=bool(data.enabled),
        only_verified=bool(data.only_verified),
    )
