"""Health check and the API reference page (rendered on the server from the OpenAPI
document, so it needs no script and nothing from the internet)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import HTTPException
from sqlalchemy import text

from chatmina import __version__
from chatmina.ui.guards import login_required
from chatmina.ui.render import page, services_of

Req = Request[Any, Any, Any]


@get("/healthz", include_in_schema=False, sync_to_thread=True)
def healthz(request: Req) -> dict[str, str]:
    try:
        with services_of(request).db.read() as s:
            s.execute(text("SELECT 1"))
    except Exception as exc:
        raise HTTPException("database unavailable", status_code=503) from exc
    return {"status": "ok", "version": __version__}


def _operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for path, item in sorted(schema.get("paths", {}).items()):
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            found.append(
                {
                    "id": op.get("operationId", f"{method}-{path}"),
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "parameters": op.get("parameters", []),
                    "body": body.get("schema"),
                    "responses": op.get("responses", {}),
                }
            )
    return found


@get("/api/docs", guards=[login_required], include_in_schema=False, sync_to_thread=True)
def api_docs(request: Req) -> Response[Any]:
    schema = request.app.openapi_schema.to_schema()
    return page(
        request,
        "api_docs.html",
        nav="api-docs",
        operations=_operations(schema),
        components=schema.get("components", {}).get("schemas", {}),
        problem_types=[
            (
                "invalid-input",
                "A field is missing, has the wrong type or is too long; "
                "the errors list names each field.",
            ),
            ("unauthorized", "No API key, or one that is revoked or unknown."),
            ("forbidden", "The key's role cannot do this."),
            ("not-found", "No such object in this workspace."),
            ("conflict", "The change clashes with existing data."),
            (
                "rate-limited",
                "Too many requests; wait as many seconds as the Retry-After header says.",
            ),
            (
                "unavailable",
                "A provider Chatmina depends on (the embeddings server) failed or could not "
                "be reached; try again later.",
            ),
            (
                "origin-not-allowed",
                "Widget API: the page's origin is not in the workspace's allowed origins.",
            ),
            (
                "visitor-token-invalid",
                "Widget API: the visitor token is missing, changed, expired or another "
                "workspace's; create a new visitor.",
            ),
            (
                "identity-invalid",
                "Widget API: the user's identity hash does not match (or identity "
                "verification is required and none was sent).",
            ),
            ("internal-error", "A bug; it was logged."),
        ],
    )
