"""One function call as an HTTP request, and what its answer means for the model."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode, urlsplit

from chatmina import clock
from chatmina.functions.service import FunctionSpec

MODEL_EXCERPT = 1000  # characters of an error response the model is shown


def _query_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"))


def build_request(
    spec: FunctionSpec,
    arguments: dict[str, Any],
    *,
    call_id: str,
    conversation_id: int | None,
    verified: bool,
    test: bool = False,
) -> tuple[str, dict[str, str], bytes, str]:
    """(url, headers, body, webhook-id) of one call, signed with the function's secrets.

    POST, PUT and PATCH send the JSON envelope as the body. GET adds the arguments to the
    URL's query string (strings as they are, anything else as JSON) and signs the whole
    query string in place of a body; a receiver verifies it as the payload with its
    webhook library (``Webhook(secret).verify(query_string, headers, json_parse=False)``).
    """
    from chatmina.webhooks.signing import new_message_id, signature_headers

    now = clock.now()
    msg_id = new_message_id()
    url = spec.url
    headers = dict(spec.headers)
    if spec.method == "GET":
        query = urlencode([(k, _query_value(v)) for k, v in arguments.items()])
        body = b""
        if query:
            url += ("&" if urlsplit(url).query else "?") + query
        signed = urlsplit(url).query.encode()  # all of it, the saved URL's own part too
    else:
        data: dict[str, Any] = {
            "function": spec.name,
            "arguments": arguments,
            "call_id": call_id,
            "conversation_id": conversation_id,
            "workspace_id": spec.workspace_public_id,
            "visitor": {"verified": verified},
        }
        if test:
            data["test"] = True
        envelope = {
            "type": "function.call",
            "timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "data": data,
        }
        body = json.dumps(envelope, separators=(",", ":")).encode()
        signed = body
        headers["content-type"] = "application/json"
    headers.update(
        signature_headers(spec.signing_secrets(now), msg_id, int(now.timestamp()), signed)
    )
    return url, headers, body, msg_id


def connection_failed(error: str | None) -> bool:
    """Nothing reached the receiver, so sending again cannot run anything twice."""
    return error is not None and ("refused the connection" in error or "Could not connect" in error)


def judge(
    spec: FunctionSpec, status: int | None, body: bytes, error: str | None
) -> tuple[bool, str, str]:
    """(ok, what the model is told, one line for the visitor and the log)."""
    name = spec.name
    if error is not None:
        return (
            False,
            f"Error: {name} failed: {error}. It did not run or its result is unknown.",
            error,
        )
    assert status is not None
    text = body.decode("utf-8", errors="replace")
    if not 200 <= status < 300:
        said = f" and said: {text[:MODEL_EXCERPT]}" if text.strip() else ""
        return False, f"Error: {name} answered {status}{said}", f"answered {status}"
    if not text.strip():
        return True, f"{name} ran and returned no content.", "done"
    try:
        json.loads(text)
    except ValueError:
        return (
            False,
            f"Error: {name} answered, but the response is not JSON, so it cannot be used.",
            "the response is not JSON",
        )
    return True, text, "done"
