"""A real OpenAI-compatible HTTP server on 127.0.0.1, for tests of everything that calls one.

Tests drive Chatmina through the real ``openai`` client against this server, so the whole
HTTP path (headers, retries, timeouts, status codes, streamed bodies) is exercised; only
the model behind it is fake. Embeddings are deterministic vectors derived from a hash of
each input.

    with FakeOpenAI(api_key="sk-test") as fake:
        fake.base_url                     # "http://127.0.0.1:PORT/v1"
        fake.fail_next(status=429, headers={"Retry-After": "1"})
        fake.delay = 0.5                  # every answer waits this long
        fake.requests                     # [(path, json body, headers), ...]

New endpoints are new entries in ``fake.routes``: a handler receives the request and
returns a :class:`Reply`, whose ``stream`` sends the body piece by piece (Server-Sent
Events, see :func:`sse`); raising :class:`CutStream` inside it drops the connection
mid-answer.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import numpy as np
import pytest

DEFAULT_MODELS = ("text-embedding-3-small", "text-embedding-3-large", "nomic-embed-text")


class Recorded(NamedTuple):
    """One request as the server saw it; header names are lower-cased."""

    path: str
    body: Any
    headers: dict[str, str]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any


@dataclass
class Reply:
    """An answer: ``body`` is JSON-encoded unless it is bytes; ``stream`` is sent chunked."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterable[bytes] | None = None


class CutStream(Exception):
    """Raised by a reply's stream to drop the connection without finishing the answer."""


Handler = Callable[["FakeOpenAI", Request], Reply]


def error(
    status: int, message: str, kind: str = "invalid_request_error", code: Any = None
) -> Reply:
    """An error in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return Reply(status, body)


def sse(events: Iterable[Any], done: bool = True) -> Iterator[bytes]:
    """Server-Sent Events as OpenAI streams them: ``data: <json>`` lines, then ``[DONE]``."""
    for event in events:
        yield b"data: " + json.dumps(event).encode() + b"\n\n"
    if done:
        yield b"data: [DONE]\n\n"


def fake_vector(model: str, text: str, dimensions: int) -> np.ndarray:
    """The unit vector the fake returns for ``text``: the same on every run and machine."""
    seed = int.from_bytes(hashlib.sha256(f"{model}\0{text}".encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dimensions)
    return vector / np.linalg.norm(vector)


def _embeddings(fake: FakeOpenAI, request: Request) -> Reply:
    body = request.body
    if not isinstance(body, dict) or "input" not in body or "model" not in body:
        return error(400, "'input' and 'model' are required")
    model, given = body["model"], body["input"]
    texts = [given] if isinstance(given, str) else given
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        return error(400, "'$.input' must be a string or a list of strings")
    if not texts or any(t == "" for t in texts):
        return error(400, "'$.input' is invalid: inputs cannot be empty")
    if model not in fake.models:
        return error(404, f"The model `{model}` does not exist", code="model_not_found")
    dimensions = fake.dimensions
    if "dimensions" in body and fake.honour_dimensions:
        dimensions = body["dimensions"]
        if not isinstance(dimensions, int) or dimensions < 1:
            return error(400, "'dimensions' must be a positive integer")
    data = []
    for index, text in enumerate(texts):
        vector = fake_vector(model, text, dimensions) * fake.scale
        if body.get("encoding_format") == "base64":
            encoded: Any = base64.b64encode(vector.astype("<f4").tobytes()).decode()
        else:
            encoded = vector.tolist()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(len(t.split()) for t in texts)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return Reply(body={"object": "list", "data": data, "model": model, "usage": usage})


def _models(fake: FakeOpenAI, request: Request) -> Reply:
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "chatmina"} for m in fake.models]
    return Reply(body={"object": "list", "data": data})


class FakeOpenAI:
    """The server and its controls; start it with ``with`` (or :meth:`start`/:meth:`stop`)."""

    def __init__(self, *, api_key: str | None = None, dimensions: int = 64) -> None:
        self.api_key = api_key
        self.dimensions = dimensions
        self.models: list[str] = list(DEFAULT_MODELS)
        self.delay = 0.0
        # Multiplies every vector: real servers do not all return unit vectors.
        self.scale = 1.0
        # False: ignore a requested 'dimensions', like servers whose models cannot shorten.
        self.honour_dimensions = True
        self.requests: list[Recorded] = []
        self.routes: dict[tuple[str, str], Handler] = {
            ("POST", "/v1/embeddings"): _embeddings,
            ("GET", "/v1/models"): _models,
        }
        self._failures: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "the fake server is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def fail_next(
        self,
        status: int = 500,
        headers: dict[str, str] | None = None,
        body: Any = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests, whatever they ask, with this error."""
        if body is None:
            body = error(status, f"Simulated failure ({status})", "server_error").body
        with self._lock:
            for _ in range(times):
                self._failures.append(Reply(status, body, dict(headers or {})))

    def start(self) -> FakeOpenAI:
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends any delay in progress
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def answer(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(Recorded(request.path, request.body, request.headers))
            failure = self._failures.popleft() if self._failures else None
        if self.delay:
            self._stopping.wait(self.delay)
        if failure is not None:
            return failure
        if self.api_key is not None:
            given = request.headers.get("authorization", "")
            if given != f"Bearer {self.api_key}":
                shown = given.removeprefix("Bearer ") or "(none)"
                return error(401, f"Incorrect API key provided: {shown}.", code="invalid_api_key")
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            return error(404, f"Unknown request URL: {request.method} {request.path}")
        return handler(self, request)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, fake: FakeOpenAI) -> None:
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End kept-alive connections, so no handler thread outlives the server."""
        with self._connections_lock:
            open_now = list(self._connections)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the openai client expects
    timeout = 30
    server: _Server

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the tests read fake.requests instead

    def _serve(self, method: str) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._send(error(400, "The body is not valid JSON"))
            return
        request = Request(method, url.path, url.query, headers, body)
        try:
            self._send(self.server.fake.answer(request))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout): nothing to answer

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.stream is not None:
            self._send_stream(reply)
            return
        if isinstance(reply.body, bytes):
            data = reply.body
        else:
            data = json.dumps(reply.body).encode()
            if not any(name.lower() == "content-type" for name in reply.headers):
                self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, reply: Reply) -> None:
        assert reply.stream is not None
        if not any(name.lower() == "content-type" for name in reply.headers):
            self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in reply.stream:
                if chunk:
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.flush()
        except CutStream:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(b"0\r\n\r\n")


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A running fake server without an API key, 64-dimensional embeddings."""
    with FakeOpenAI() as fake:
        yield fake
