"""One place that turns exceptions into responses.

API paths (/api/, /v1/) answer RFC 9457 problem+json with a stable ``type``; pages answer
an HTML error page, or a redirect to the login page when the visitor is not logged in.
Only bugs reach the 500 branch, and those are logged with their traceback.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.response import Redirect

from chatmina.errors import Throttled, UserError
from chatmina.ui.render import page

log = logging.getLogger("chatmina.errors")

PROBLEM_TYPES = {
    400: "invalid-input",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "too-large",
    415: "unsupported-media-type",
    429: "rate-limited",
    500: "internal-error",
    503: "unavailable",
}
TITLES = {
    400: "Invalid input",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Service unavailable",
}


def is_api(path: str) -> bool:
    return path.startswith(("/api/", "/v1/")) and not path.startswith("/api/docs")


def problem(
    status: int,
    detail: str,
    *,
    type_: str | None = None,
    title: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": f"/api/docs#problem-{type_ or PROBLEM_TYPES.get(status, 'error')}",
        "title": title or TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return Response(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


# msgspec reports a missing or unknown field against the object that should (not) hold it,
# and Litestar names the whole body "data": take the field's own name from the message, so
# `errors` names the field a client must fix, not a server-side parameter.
_NAMED_FIELD = re.compile(r"(?:missing required|unknown) field `([^`]+)`")


def _validation_errors(exc: ValidationException) -> list[dict[str, str]]:
    found = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            field = str(item.get("key") or "")
            message = str(item.get("message", ""))
            if item.get("source") == "body" or field == "data":
                field = "" if field == "data" else field
                named = _NAMED_FIELD.search(message)
                if named:
                    field = f"{field}.{named.group(1)}" if field else named.group(1)
            found.append({"field": field, "message": message})
    return found


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    headers: dict[str, str] = {}
    if isinstance(exc, UserError):
        status, detail, type_, title = exc.status_code, exc.message, exc.type, exc.title
        if isinstance(exc, Throttled):
            headers["retry-after"] = str(exc.retry_after)
    elif isinstance(exc, HTTPException):
        status, detail = exc.status_code, str(exc.detail)
        type_, title = None, None
        headers.update(exc.headers or {})
    else:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        status, detail, type_, title = (
            500,
            "An unexpected error happened; it was logged.",
            None,
            None,
        )

    if is_api(request.url.path):
        errors = _validation_errors(exc) if isinstance(exc, ValidationException) else None
        if errors:
            detail = "; ".join(
                f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors
            )
        elif isinstance(exc, UserError) and exc.field:
            errors = [{"field": exc.field, "message": exc.message}]
        answer = problem(status, detail, type_=type_, title=title, errors=errors, headers=headers)
        if request.url.path.startswith("/v1/"):
            # OpenAI clients read the message from "error"; the problem fields stay too.
            answer.content["error"] = {
                "message": detail,
                "type": type_ or PROBLEM_TYPES.get(status, "error"),
                "code": None,
            }
        return answer

    if isinstance(exc, NotAuthorizedException):
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        next_part = "" if request.method != "GET" else "?next=" + quote(target, safe="/")
        return Redirect("/login" + next_part, status_code=303)
    if status >= 500 and not isinstance(exc, UserError):
        detail = "An unexpected error happened. It was logged; try again."
    try:
        response: Response[Any] = page(
            request,
            "error.html",
            status_code=status,
            title=title or TITLES.get(status, "Error"),
            message=detail,
        )
        response.media_type = MediaType.HTML
        response.headers.update(headers)
        return response
    except Exception:
        log.exception("error page failed")
        return Response(detail, status_code=status, media_type=MediaType.TEXT)
