"""widget.js size: what a visitor's browser downloads on every site that embeds the chat.

Target (the product issue): at most 25 KB gzipped. Measured twice: the file gzipped at
level 9 as the server does at start-up, and the bytes a real server actually sends to a
browser that accepts gzip (Content-Length of GET /widget.js), so a change in how it is
served shows up too. Sizes do not depend on machine load; the load is reported anyway.
"""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import httpx

from chatmina.conversations.widget_js import WIDGET_FILE
from tests.perf.common import Result
from tests.server_helpers import RunningServer

TARGET_KB = 25.0


def _served_bytes() -> tuple[int, str]:
    with (
        tempfile.TemporaryDirectory(prefix="chatmina-bench-") as scratch,
        RunningServer(Path(scratch) / "data") as server,
    ):
        response = httpx.get(
            server.url + "/widget.js", headers={"accept-encoding": "gzip"}, timeout=10
        )
        response.raise_for_status()
        # Content-Length: the bytes on the wire (httpx hands back the decoded body).
        length = int(response.headers["content-length"])
        return length, response.headers.get("content-encoding", "identity")


def run() -> list[Result]:
    raw = WIDGET_FILE.read_bytes()
    gzipped = len(gzip.compress(raw, compresslevel=9, mtime=0))
    served, encoding = _served_bytes()
    return [
        Result(
            "widget_js_gzip_kb",
            gzipped / 1024,
            TARGET_KB,
            "KB",
            extra={
                "raw_kb": round(len(raw) / 1024, 1),
                "served_kb": round(served / 1024, 2),
                "served_encoding": encoding,
            },
        )
    ]
