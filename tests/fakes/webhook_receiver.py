"""A real webhook receiver on 127.0.0.1 that verifies every request like a customer's would.

    with WebhookReceiver(secret) as receiver:
        receiver.url()                 # "http://127.0.0.1:PORT/hooks"
        receiver.address               # "127.0.0.1:PORT", the allowlist entry that opens it
        receiver.fail(503, times=3)    # the next 3 requests answer 503
        receiver.behave(delay=2.0)     # every request waits 2 s before answering
        receiver.down(); receiver.up() # stop listening (connection refused), listen again
        receiver.processed             # {webhook-id: payload}, each id processed once
        receiver.arrivals              # every request that arrived, in order

Every request is checked with the ``standardwebhooks`` library (``Webhook(secret).verify``);
one that does not verify is answered 401 and counted in ``rejected``. A verified webhook-id
seen before is answered 200 again but not processed twice (``duplicates``), which is how a
receiver de-duplicates. HTTP/1.1 with keep-alive, on its own event loop in a thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
import threading
from dataclasses import dataclass
from typing import Any

import standardwebhooks.webhooks
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from chatmina import clock


class _WorldTime(dt.datetime):
    """The receiver lives in the tests' world, whose time is chatmina.clock: when a test
    travels a day ahead, a delivery signed "now" must not look a day too new to it."""

    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> _WorldTime:  # type: ignore[override]
        current = clock.now()
        return cls.fromtimestamp(current.timestamp(), tz or dt.UTC)


standardwebhooks.webhooks.datetime = _WorldTime  # type: ignore[misc]


@dataclass
class Arrival:
    msg_id: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    status: int  # what the receiver answered


@dataclass
class Behaviour:
    status: int = 200
    delay: float = 0.0
    body: bytes = b'{"ok":true}'
    content_type: str = "application/json"
    redirect_to: str | None = None


@dataclass
class _Failure:
    status: int
    times: int


class WebhookReceiver:
    def __init__(self, *secrets: str, tls: ssl.SSLContext | None = None, path: str = "/hooks"):
        self.secrets = list(secrets)  # verify() accepts a request any of them signed
        self.tls = tls
        self.path = path
        self.arrivals: list[Arrival] = []
        self.started: list[str] = []  # webhook-ids of requests begun, answered or not
        self.processed: dict[str, Any] = {}
        self.duplicates = 0
        self.rejected: list[str] = []
        self.behaviour = Behaviour()
        self.keep_log = True  # off in benchmarks: only processed ids are kept
        self._failures: list[_Failure] = []
        self._port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._arrived = threading.Condition()

    # -- commands --------------------------------------------------------------------------

    def fail(self, status: int = 500, times: int = 1) -> None:
        with self._lock:
            self._failures.append(_Failure(status, times))

    def behave(self, **changes: Any) -> None:
        with self._lock:
            self.behaviour = Behaviour(**changes)

    def down(self) -> None:
        """Stop listening and drop open connections: senders see "connection refused"."""
        self._call(self._stop_listening())

    def up(self) -> None:
        self._call(self._listen())

    # -- addresses -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._port}"

    def url(self, path: str | None = None, host: str = "127.0.0.1") -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self._port}{path or self.path}"

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` distinct webhook-ids were processed."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.processed) >= count, timeout)

    def wait_for_started(self, count: int, timeout: float = 10.0) -> bool:
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.started) >= count, timeout)

    def wait_for_arrivals(self, count: int, timeout: float = 10.0) -> bool:
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.arrivals) >= count, timeout)

    # -- serving ---------------------------------------------------------------------------

    def __enter__(self) -> WebhookReceiver:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._call(self._listen())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._loop is not None and self._thread is not None
        self._call(self._stop_listening())
        self._call(self._cancel_handlers())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _call(self, coroutine: Any) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self._port, ssl=self.tls, reuse_address=True, backlog=512
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def _stop_listening(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()
            self._server = None

    async def _cancel_handlers(self) -> None:
        """Requests still being held (a delay) end with the receiver, without a warning."""
        current = asyncio.current_task()
        handlers = [t for t in asyncio.all_tasks() if t is not current]
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                method, target, headers, body = request
                status, reply, kind, extra = await self._answer(method, target, headers, body)
                head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
                head += [f"Content-Type: {kind}", f"Content-Length: {len(reply)}"]
                head += [f"{name}: {value}" for name, value in extra.items()]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + reply)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, str, dict[str, str]]:
        with self._lock:
            behaviour = self.behaviour
            failure = self._failures[0] if self._failures else None
            if failure is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.pop(0)
        msg_id = headers.get("webhook-id", "")
        with self._arrived:
            if self.keep_log:  # before any delay: what is in flight right now
                self.started.append(msg_id)
            self._arrived.notify_all()
        if behaviour.delay:
            await asyncio.sleep(behaviour.delay)
        verified = self._verify(body, headers)
        if not verified:
            status, reply = 401, b'{"error":"signature"}'
        elif failure is not None:
            status, reply = failure.status, b'{"error":"failing on command"}'
        elif behaviour.redirect_to is not None:
            status, reply = 302, b""
        else:
            status, reply = behaviour.status, behaviour.body
        with self._arrived:
            if self.keep_log:
                self.arrivals.append(Arrival(msg_id, headers, body, verified, status))
            if 200 <= status < 300:
                if msg_id in self.processed:
                    self.duplicates += 1
                else:
                    self.processed[msg_id] = _parsed(body)
            self._arrived.notify_all()
        extra = {"Location": behaviour.redirect_to} if status == 302 else {}
        return status, reply, behaviour.content_type, extra  # type: ignore[return-value]

    def _verify(self, body: bytes, headers: dict[str, str]) -> bool:
        reasons = []
        for secret in self.secrets:
            try:
                # Verify the signature only: a signed body that is not JSON is still signed.
                Webhook(secret).verify(body, headers, json_parse=False)
                return True
            except WebhookVerificationError as error:
                reasons.append(str(error))
        with self._lock:
            self.rejected.append("; ".join(reasons) or "no secret")
        return False


def _parsed(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return body


_REASONS = {200: "OK", 204: "No Content", 302: "Found", 401: "Unauthorized", 404: "Not Found",
            500: "Internal Server Error", 503: "Service Unavailable"}  # fmt: skip


async def _read_request(
    reader: asyncio.StreamReader,
) -> tuple[str, str, dict[str, str], bytes] | None:
    line = await reader.readline()
    if not line:
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    body = await reader.readexactly(length) if length else b""
    return method, target, headers, body
