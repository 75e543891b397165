"""A real OpenAI-compatible HTTP server on 127.0.0.1, for tests of everything that calls one.

Tests drive Chatmina through the real ``openai`` client against this server, so the whole
HTTP path (headers, retries, timeouts, status codes, streamed bodies) is exercised; only
the model behind it is fake. Embeddings are deterministic vectors derived from a hash of
each input; chat completions answer the turns a test scripts, whole or streamed.

    with FakeOpenAI(api_key="sk-test") as fake:
        fake.base_url                     # "http://127.0.0.1:PORT/v1"
        fake.fail_next(status=429, headers={"Retry-After": "1"})
        fake.delay = 0.5                  # every answer waits this long
        fake.requests                     # [(path, json body, headers), ...]

        fake.script(Say("Hello!"), CallTools([("lookup", {"q": "refund"})]), Fail(503))
        # one turn per chat completion, first in first out; when none is left the
        # answer is Say(f"Answer to: {last user message}"). Also Cut(text), Garbage().
        fake.first_token_delay = 0.3      # before the first streamed chunk or a whole answer
        fake.tokens_per_second = 50       # streamed tokens 20 ms apart (0: no pacing)
        fake.chat_requests                # the chat completion bodies, in order
        fake.served                       # chat answers given in full (not Fail, Cut, Garbage)
        fake.first_token_times            # per stream: seconds from request read to first token
        fake.disconnects                  # streams the client left before their end
        fake.wait_for_disconnect(2.0)     # True once a client has left a stream

New endpoints are new entries in ``fake.routes``: a handler receives the request and
returns a :class:`Reply`, whose ``stream`` sends the body piece by piece (Server-Sent
Events, see :func:`sse`); raising :class:`CutStream` inside it drops the connection
mid-answer, and raising it from the handler drops the connection unanswered.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import re
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import numpy as np
import pytest

DEFAULT_MODELS = (
    "text-embedding-3-small",
    "text-embedding-3-large",
    "nomic-embed-text",
    "gpt-4o-mini",
    "llama3.2",
    "qwen2.5",
)
ROLES = ("system", "user", "assistant", "tool", "developer")


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
    received: float  # time.perf_counter() once the whole request had been read


@dataclass
class Reply:
    """An answer: ``body`` is JSON-encoded unless it is bytes; ``stream`` is sent chunked."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterable[bytes] | None = None


class CutStream(Exception):
    """Raised by a reply's stream to drop the connection without finishing the answer, or
    by a handler to drop it without answering at all."""


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
        yield _event(event)
    if done:
        yield _DONE


def _event(event: Any) -> bytes:
    return b"data: " + json.dumps(event).encode() + b"\n\n"


_DONE = b"data: [DONE]\n\n"


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


@dataclass(frozen=True)
class Say:
    """The model answers ``text``; a stream sends each word with its trailing space."""

    text: str


@dataclass(frozen=True)
class CallTools:
    """The model calls tools: (name, arguments), the arguments a dict the fake encodes as
    JSON or a string sent as it is (to test malformed arguments)."""

    calls: list[tuple[str, dict[str, Any] | str]]


@dataclass(frozen=True)
class Fail:
    """The request fails with this HTTP status, in OpenAI's error shape."""

    status: int
    message: str = "Simulated failure"
    code: str | None = None
    headers: dict[str, str] | None = None
    kind: str = "server_error"


@dataclass(frozen=True)
class Cut:
    """Streamed: the words of ``text``, then the connection drops before ``[DONE]``.
    Not streamed: the connection drops without an answer."""

    text: str


@dataclass(frozen=True)
class Garbage:
    """Streamed: one valid chunk, a line that is not JSON, then ``[DONE]``. Not streamed:
    a 200 whose body is not JSON."""


Turn = Say | CallTools | Fail | Cut | Garbage


def stream_tokens(text: str) -> list[str]:
    """The pieces a stream sends ``text`` in: each word with the whitespace after it."""
    return re.findall(r"\S+\s*|\s+", text)


def _text(content: Any) -> str:
    """A message's text; its content is a string, None, or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return " ".join(str(p.get("text", "")) for p in parts)
    return ""


def _prompt_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(len(_text(m.get("content")).split()) + 3 for m in messages)


def _chat_refusal(fake: FakeOpenAI, body: Any) -> Reply | None:
    """The error the real API gives for this request, if any."""
    if not isinstance(body, dict) or "model" not in body:
        return error(400, "you must provide a model parameter")
    if "messages" not in body:
        return error(400, "Missing required parameter: 'messages'.")
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return error(400, "Invalid 'messages': expected a non-empty array of objects.")
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ROLES:
            supported = ", ".join(repr(r) for r in ROLES)
            return error(
                400,
                f"Invalid value for 'messages[{index}].role': {role!r}. "
                f"Supported values are: {supported}.",
            )
    if body["model"] not in fake.models:
        return error(404, f"The model `{body['model']}` does not exist", code="model_not_found")
    return None


@dataclass(frozen=True)
class _ToolCall:
    id: str
    name: str
    arguments: str

    def message(self) -> dict[str, Any]:
        function = {"name": self.name, "arguments": self.arguments}
        return {"id": self.id, "type": "function", "function": function}

    def deltas(self, index: int) -> list[dict[str, Any]]:
        """OpenAI's stream shape: the call's name first, then its arguments in pieces."""
        function = {"name": self.name, "arguments": ""}
        opening = {"index": index, "id": self.id, "type": "function", "function": function}
        size = max(1, -(-len(self.arguments) // 3))
        pieces = [self.arguments[at : at + size] for at in range(0, len(self.arguments), size)]
        rest = [{"index": index, "function": {"arguments": piece}} for piece in pieces]
        return [{"tool_calls": [call]} for call in [opening, *rest]]


@dataclass(frozen=True)
class _Answer:
    """What the fake model generates for a turn, whether it is then sent whole or streamed."""

    message: dict[str, Any]
    deltas: list[dict[str, Any]]
    finish_reason: str
    completion_tokens: int

    @classmethod
    def saying(cls, text: str) -> _Answer:
        pieces = stream_tokens(text)
        message = {"role": "assistant", "content": text}
        return cls(message, [{"content": piece} for piece in pieces], "stop", len(pieces))

    @classmethod
    def calling(cls, calls: list[_ToolCall]) -> _Answer:
        message = {"role": "assistant", "content": None, "tool_calls": [c.message() for c in calls]}
        deltas = [delta for index, call in enumerate(calls) for delta in call.deltas(index)]
        used = sum(len(call.arguments.split()) + 1 for call in calls)
        return cls(message, deltas, "tool_calls", used)


@dataclass(frozen=True)
class _Completion:
    """One chat completion being answered, and what each of its chunks repeats."""

    fake: FakeOpenAI
    received: float
    id: str
    model: str
    prompt_tokens: int
    include_usage: bool
    created: int = field(default_factory=lambda: int(time.time()))

    def whole(self, turn: Say | CallTools | Cut | Garbage) -> Reply:
        self.fake._pause(self.fake.first_token_delay)
        if isinstance(turn, Cut):
            raise CutStream
        if isinstance(turn, Garbage):
            return Reply(body=b"{not json", headers={"Content-Type": "application/json"})
        answer = self._answer(turn)
        choice = {"index": 0, "message": answer.message, "finish_reason": answer.finish_reason}
        usage = self._usage(answer.completion_tokens)
        self.fake._count_served()
        return Reply(body=self._head("chat.completion") | {"choices": [choice], "usage": usage})

    def stream(self, turn: Say | CallTools | Cut | Garbage) -> Iterator[bytes]:
        self.fake._pause(self.fake.first_token_delay)
        yield _event(self._chunk({"role": "assistant", "content": ""}))
        if isinstance(turn, Garbage):
            yield b"data: {not json\n\n"
            yield _DONE
            return
        answer = self._answer(turn)
        yield from self._paced(answer.deltas)
        if isinstance(turn, Cut):
            raise CutStream
        yield _event(self._chunk({}, answer.finish_reason))
        if self.include_usage:
            usage = self._usage(answer.completion_tokens)
            yield _event(self._head("chat.completion.chunk") | {"choices": [], "usage": usage})
        # Counted before the last line goes out: a client that has read [DONE] may look at
        # the count at once, before this thread would run again.
        self.fake._count_served()
        yield _DONE

    def _paced(self, deltas: list[dict[str, Any]]) -> Iterator[bytes]:
        """One chunk per delta, each written before the next wait, so that a client who
        leaves during a slow answer is noticed at the next token."""
        speed = self.fake.tokens_per_second
        for index, delta in enumerate(deltas):
            if index and speed > 0:
                self.fake._pause(1 / speed)
            yield _event(self._chunk(delta))
            if index == 0:  # resumed once the handler has written the first token
                self.fake._record_first_token(time.perf_counter() - self.received)

    def _answer(self, turn: Say | CallTools | Cut) -> _Answer:
        if isinstance(turn, CallTools):
            calls = []
            for name, arguments in turn.calls:
                encoded = arguments if isinstance(arguments, str) else json.dumps(arguments)
                calls.append(_ToolCall(self.fake._call_id(), name, encoded))
            return _Answer.calling(calls)
        return _Answer.saying(turn.text)

    def _head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return self._head("chat.completion.chunk") | {"choices": [choice]}

    def _usage(self, completion_tokens: int) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens + completion_tokens,
        }


def _chat_completions(fake: FakeOpenAI, request: Request) -> Reply:
    refusal = _chat_refusal(fake, request.body)
    if refusal is not None:
        return refusal
    body = request.body
    turn, number = fake._take_turn(body["messages"])
    if isinstance(turn, Fail):
        failure = error(turn.status, turn.message, turn.kind, turn.code)
        failure.headers.update(turn.headers or {})
        return failure
    options = body.get("stream_options")
    completion = _Completion(
        fake,
        request.received,
        id=f"chatcmpl-{number}",
        model=body["model"],
        prompt_tokens=_prompt_tokens(body["messages"]),
        include_usage=isinstance(options, dict) and options.get("include_usage") is True,
    )
    if body.get("stream"):
        return Reply(stream=completion.stream(turn))
    return completion.whole(turn)


class FakeOpenAI:
    """The server and its controls; start it with ``with`` (or :meth:`start`/:meth:`stop`)."""

    def __init__(self, *, api_key: str | None = None, dimensions: int = 64) -> None:
        self.api_key = api_key
        self.dimensions = dimensions
        self.models: list[str] = list(DEFAULT_MODELS)
        self.delay = 0.0
        self.first_token_delay = 0.0
        self.tokens_per_second = 0.0
        # Multiplies every vector: real servers do not all return unit vectors.
        self.scale = 1.0
        # False: ignore a requested 'dimensions', like servers whose models cannot shorten.
        self.honour_dimensions = True
        self.requests: list[Recorded] = []
        self.served = 0
        self.first_token_times: list[float] = []
        self.disconnects = 0
        self.routes: dict[tuple[str, str], Handler] = {
            ("POST", "/v1/embeddings"): _embeddings,
            ("GET", "/v1/models"): _models,
            ("POST", "/v1/chat/completions"): _chat_completions,
        }
        self._failures: deque[Reply] = deque()
        self._turns: deque[Turn] = deque()
        self._completion_numbers = itertools.count(1)
        self._call_numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._disconnected = threading.Condition(self._lock)
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

    def script(self, *turns: Turn) -> None:
        """Queue the model's next turns: each chat completion request takes the first."""
        with self._lock:
            self._turns.extend(turns)

    @property
    def chat_requests(self) -> list[Any]:
        with self._lock:
            return [r.body for r in self.requests if r.path == "/v1/chat/completions"]

    def wait_for_disconnect(self, timeout: float) -> bool:
        """Whether a client has left a stream before its end, waiting up to ``timeout``."""
        with self._disconnected:
            return self._disconnected.wait_for(lambda: self.disconnects > 0, timeout)

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
        self._pause(self.delay)
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

    def _pause(self, seconds: float) -> None:
        """Wait, unless the server is stopping; never hold the lock while calling this."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def _take_turn(self, messages: list[dict[str, Any]]) -> tuple[Turn, int]:
        """The next scripted turn, or the default answer, and the completion's number."""
        with self._lock:
            turn = self._turns.popleft() if self._turns else None
            number = next(self._completion_numbers)
        if turn is None:
            asked = [m.get("content") for m in messages if m["role"] == "user"]
            turn = Say(f"Answer to: {_text(asked[-1]) if asked else ''}")
        return turn, number

    def _call_id(self) -> str:
        with self._lock:
            return f"call_{next(self._call_numbers)}"

    def _count_served(self) -> None:
        with self._lock:
            self.served += 1

    def _record_first_token(self, seconds: float) -> None:
        with self._lock:
            self.first_token_times.append(seconds)

    def _count_disconnect(self) -> None:
        if self._stopping.is_set():
            return  # the server cut the stream, not the client
        with self._disconnected:
            self.disconnects += 1
            self._disconnected.notify_all()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # The default backlog of 5 makes hundreds of clients connecting at once wait for SYN
    # retries (a second each); load tests open 200+ streams together.
    request_queue_size = 512

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

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients closing kept-alive connections or leaving streams are normal here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

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
        received = time.perf_counter()
        url = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._send(error(400, "The body is not valid JSON"))
            return
        request = Request(method, url.path, url.query, headers, body, received)
        try:
            self._send(self.server.fake.answer(request))
        except CutStream:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
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
        except (BrokenPipeError, ConnectionResetError):
            self.server.fake._count_disconnect()
            raise
        self.wfile.write(b"0\r\n\r\n")


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A running fake server without an API key, 64-dimensional embeddings."""
    with FakeOpenAI() as fake:
        yield fake
