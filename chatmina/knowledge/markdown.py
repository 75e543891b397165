"""Markdown to safe HTML, for article previews (and later, chat answers).

Raw HTML in the Markdown is shown as text, never rendered: an imported page cannot smuggle
a script into the admin UI. markdown-it also refuses javascript: and data: links.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from markupsafe import Markup


@cache
def _renderer() -> Any:
    from markdown_it import MarkdownIt  # ~50 ms to import; only pages that render need it

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render(text: str) -> Markup:
    return Markup(_renderer().render(text))  # noqa: S704 - markdown-it escapes everything; html is off
