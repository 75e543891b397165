"""A real website on 127.0.0.1 (HTTP, or HTTPS with a certificate made on the spot), for
tests of URL imports and of every outbound request.

    with Website() as site:
        site.add("/robots.txt", "User-agent: *\\nDisallow: /private\\n", "text/plain")
        site.add("/guide", "<h1>Guide</h1>", "text/html")
        site.redirect("/old", "/guide")
        site.url("/guide")        # "http://127.0.0.1:PORT/guide"
        site.address              # "127.0.0.1:PORT", the allowlist entry that opens it
        site.requests             # [Seen(method, path, headers), ...]

Paths not added answer 404. ``Page.chunked`` sends the body without a Content-Length.
"""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple


class Seen(NamedTuple):
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased


@dataclass
class Page:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False
    delay: float = 0.0


class Website:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.pages: dict[str, Page] = {}
        self.requests: list[Seen] = []
        self._tls = tls
        self._server: ThreadingHTTPServer | None = None

    # -- content ---------------------------------------------------------------------------

    def add(self, path: str, body: str | bytes, content_type: str = "text/html; charset=utf-8",
            **options: Any) -> None:  # fmt: skip
        data = body.encode() if isinstance(body, str) else body
        self.pages[path] = Page(data, content_type, **options)

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.pages[path] = Page(b"", "text/plain", status, {"Location": location})

    # -- addresses -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]

    # -- serving ---------------------------------------------------------------------------

    def __enter__(self) -> Website:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self._answer()

            def _answer(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                site.requests.append(Seen(self.command, self.path, headers))
                page = site.pages.get(self.path) or Page(b"not found", "text/plain", 404)
                if page.delay:
                    time.sleep(page.delay)
                self.send_response(page.status)
                self.send_header("Content-Type", page.content_type)
                for name, value in page.headers.items():
                    self.send_header(name, value)
                if page.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(page.body), 16384):
                        part = page.body[start : start + 16384]
                        self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(page.body)))
                    self.end_headers()
                    self.wfile.write(page.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        if self._tls:
            server.socket = self._tls.wrap_socket(server.socket, server_side=True)
        self._server = server
        # A short poll interval: shutdown() waits for the loop to notice, at every test's end.
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


def certificate_for(hostname: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting it) for a self-signed certificate that names
    ``hostname`` only: no IP address, so a client that verified against the address it
    connected to, instead of the host name, would fail."""
    from cryptography import x509

    from tests.fakes.tls import self_signed, server_context

    cert_pem, key_pem = self_signed(hostname, [x509.DNSName(hostname)])
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return server_context(cert_pem, key_pem), client
