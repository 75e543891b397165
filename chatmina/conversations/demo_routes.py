"""The demo page: a help-center-looking page that embeds the widget exactly as a business's
own site would, with the one-line snippet. With ?preview=1 the widget shows the settings
the Widget settings page sends it (that page frames this one), so the page sets its own,
slightly wider security headers: framing by Chatmina's own pages, avatars from any https
host (the admin may type one in), and nothing else.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.params import Parameter
from litestar.response import Template

from chatmina.accounts.workspace_routes import widget_snippet
from chatmina.ui.render import services_of

Req = Request[Any, Any, Any]

DEMO_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'self'"
)


@get(
    "/demo/{public_id:str}",
    include_in_schema=False,
    sync_to_thread=True,
    exclude_from_csrf=True,  # no form; a visitor of the demo needs no cookie of ours
)
def demo_page(
    request: Req,
    public_id: Annotated[str, Parameter(max_length=40)],
    preview: Annotated[str, Parameter(max_length=1)] = "",
) -> Template:
    services = services_of(request)
    site = services.live.site(public_id)  # NotFound (404 page) for an unknown id
    return Template(
        "widget/demo.html",
        context={
            "name": site.name,
            "preview": preview == "1",
            "snippet": widget_snippet(services.settings.base_url, public_id),
        },
        headers={
            "content-security-policy": DEMO_CONTENT_SECURITY_POLICY,
            "x-frame-options": "SAMEORIGIN",
            "x-robots-tag": "noindex",
            "cache-control": "no-store",
        },
    )
