"""The outbound HTTP client of webhooks and AI Functions: checked, bounded, never redirected.

Every connection goes to an address that was checked (chatmina.net's rules: never
link-local or cloud metadata; private and loopback only for allowlisted hosts), while the
Host header and TLS (SNI and certificate verification) keep the URL's host name, so a DNS
answer that changes after the check (rebinding) cannot redirect the connection. Redirects
are reported, not followed: a signed request must reach the URL the admin saved, not
wherever that server points. Responses are read up to a size limit within one deadline.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio
import httpcore
from sqlalchemy import select

from chatmina import net
from chatmina.errors import UserError
from chatmina.settings import Settings
from chatmina.storage.db import Database
from chatmina.webhooks.models import OutboundSettings

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


_allowlist_changes: dict[tuple[str, int], int] = {}


def allowlist_changed(db: Database, workspace_id: int) -> None:
    """Count a change of the workspace's allowlist, so cached copies (functions) reload."""
    key = (str(db.path), workspace_id)
    _allowlist_changes[key] = _allowlist_changes.get(key, 0) + 1


def allowlist_generation(db: Database, workspace_id: int) -> int:
    return _allowlist_changes.get((str(db.path), workspace_id), 0)


def allowed_private_hosts(db: Database, workspace_id: int, settings: Settings) -> frozenset[str]:
    """The instance's CHATMINA_ALLOWED_PRIVATE_HOSTS plus the workspace's own entries."""
    with db.read() as session:
        own = session.scalar(
            select(OutboundSettings.allowed_private_hosts).where(
                OutboundSettings.workspace_id == workspace_id
            )
        )
    entries = net.Allowlist.parse(settings.allowed_private_hosts).entries
    if own:
        entries |= net.Allowlist.parse(own).entries
    return entries


def check_url(url: str, allowed: frozenset[str], field: str = "url") -> None:
    """Raise UserError (naming ``field``) unless ``url`` may be called from this server now."""
    if len(url) > 2000:
        raise UserError("The URL is longer than 2,000 characters.", field)
    try:
        net.check_destination(url, net.Allowlist(allowed))
    except net.BlockedAddress as error:
        hint = (
            " To call a system on this machine or network, add its host (or host:port) to "
            "the workspace's allowlist (Webhooks page, Allowed private hosts)."
            if error.allowable
            else ""
        )
        raise UserError(f"This address is not allowed: {error}.{hint}", field) from None
    except net.OutboundError as error:
        raise UserError(
            f"This URL cannot be used: {error}. Example: https://example.com/hooks/chatmina",
            field,
        ) from None


@dataclass(frozen=True)
class Response:
    status: int | None  # None when no response arrived
    latency_ms: float
    body: bytes  # at most max_response_bytes
    truncated: bool
    error: str | None  # a clear sentence, or None when a response arrived in full

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses chatmina.net accepted for this allowlist."""

    def __init__(self, allowlist: net.Allowlist) -> None:
        self._allowlist = allowlist
        self._sockets = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: object = None,
    ) -> httpcore.AsyncNetworkStream:
        # getaddrinfo blocks: off the event loop (literal addresses need no lookup).
        addresses = await anyio.to_thread.run_sync(
            net.resolve_all_checked, host, port, self._allowlist
        )
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._sockets.connect_tcp(address, port, timeout, local_address)
            except httpcore.ConnectTimeout as error:
                failure = error
            except httpcore.ConnectError as error:
                # anyio reports "All connection attempts failed" and keeps the reason in its
                # chain; net.plain_errors reads the reason from the first argument.
                refused = _refusal(error)
                failure = httpcore.ConnectError(refused) if refused else error
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: object = None
    ) -> httpcore.AsyncNetworkStream:
        raise net.BlockedAddress("Unix sockets are never reachable", allowable=False)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


def _refusal(error: BaseException) -> ConnectionRefusedError | None:
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        pending.extend(a for a in current.args if isinstance(a, BaseException))
    return None


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _kilobytes(limit: int) -> str:
    return f"{max(limit // 1024, 1)} KB"


class OutboundClient:
    """One per event loop. Keeps connections alive per allowlist and origin: a connection
    opened under one workspace's allowlist is never reused for a workspace without it.

    Connections are kept in plain idle lists rather than httpcore's pool, whose bookkeeping
    grows with the square of the connections in use (100 concurrent requests on reused
    connections took seconds instead of milliseconds).
    """

    def __init__(
        self, ssl_context: ssl.SSLContext | None = None, max_connections: int = 100
    ) -> None:
        self._ssl = ssl_context or net.default_ssl_context()
        self._slots = anyio.Semaphore(max_connections)
        self._max_idle = max_connections
        self._backends: dict[frozenset[str], _CheckedBackend] = {}
        self._idle: dict[tuple[frozenset[str], str], list[_Connection]] = {}
        self._discard: list[_Connection] = []

    def _connection(self, allowed: frozenset[str], origin: httpcore.Origin) -> _Connection:
        idle = self._idle.get((allowed, str(origin)))
        while idle:
            connection = idle.pop()
            if connection.is_idle() and not connection.has_expired():
                return connection
            self._discard.append(connection)
        backend = self._backends.get(allowed)
        if backend is None:
            backend = self._backends[allowed] = _CheckedBackend(net.Allowlist(allowed))
        return httpcore.AsyncHTTPConnection(
            origin=origin, ssl_context=self._ssl, keepalive_expiry=30.0, network_backend=backend
        )

    def _release(
        self, allowed: frozenset[str], origin: httpcore.Origin, connection: _Connection
    ) -> None:
        idle = self._idle.setdefault((allowed, str(origin)), [])
        if connection.is_idle() and len(idle) < self._max_idle:
            idle.append(connection)
        else:
            self._discard.append(connection)

    @contextlib.asynccontextmanager
    async def _exchange(
        self, allowed: frozenset[str], origin: httpcore.Origin, request: httpcore.Request
    ) -> AsyncIterator[httpcore.Response]:
        connection = self._connection(allowed, origin)
        try:
            response = await connection.handle_async_request(request)
        except BaseException:
            self._discard.append(connection)
            raise
        try:
            yield response
        finally:
            # A body left unread (too large, a redirect) closes the connection here.
            await response.aclose()
            self._release(allowed, origin, connection)
            await self._close_discarded()

    async def _close_discarded(self) -> None:
        discarded, self._discard = self._discard, []
        for connection in discarded:
            await connection.aclose()

    async def aclose(self) -> None:
        for idle in self._idle.values():
            self._discard.extend(idle)
        self._idle = {}
        await self._close_discarded()

    async def send(
        self,
        *,
        url: str,
        method: str,
        headers: Mapping[str, str],
        body: bytes,
        timeout: float,
        allowed: frozenset[str],
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> Response:
        """Send one request; never raises for anything the other side (or the network) does."""
        started = time.perf_counter()

        def done(
            status: int | None, error: str | None, data: bytes = b"", truncated: bool = False
        ) -> Response:
            latency = (time.perf_counter() - started) * 1000
            return Response(status, round(latency, 2), data, truncated, error)

        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            if parts.scheme not in ("http", "https") or not host:
                return done(None, f"{url} is not an http(s) address")
        except ValueError:
            return done(None, f"{url} is not a valid address")
        # The URL's own host (and port) in Host, whatever address the connection went to.
        send_headers = [
            (b"host", parts.netloc.rpartition("@")[2].encode("idna")),
            (b"user-agent", b"Chatmina"),
            (b"accept-encoding", b"identity"),
            (b"content-length", str(len(body)).encode()),
        ]
        skip = {"host", "content-length", "transfer-encoding"}
        send_headers += [
            (k.encode(), v.encode()) for k, v in headers.items() if k.lower() not in skip
        ]
        limits = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        request = httpcore.Request(
            method.upper(), url, headers=send_headers, content=body,
            extensions={"timeout": limits},
        )  # fmt: skip
        origin = request.url.origin
        try:
            with anyio.fail_after(timeout), net.plain_errors(host):
                async with self._slots, self._exchange(allowed, origin, request) as response:
                    if response.status in _REDIRECTS:
                        location = _header(response.headers, b"location") or "nowhere"
                        return done(
                            response.status,
                            f"redirects are not followed ({response.status} to {location})",
                        )
                    data = bytearray()
                    async for chunk in response.aiter_stream():
                        data += chunk
                        if len(data) > max_response_bytes:
                            return done(
                                response.status,
                                f"the response is larger than {_kilobytes(max_response_bytes)}"
                                " (the rest was not read)",
                                bytes(data[:max_response_bytes]),
                                truncated=True,
                            )
                    return done(response.status, None, bytes(data))
        except TimeoutError:
            return done(None, f"timed out after {_seconds(timeout)}")
        except net.OutboundError as error:
            text = str(error)
            if "did not answer in time" in text or "took too long" in text:
                text = f"timed out after {_seconds(timeout)}"
            return done(None, text)
        except httpcore.UnsupportedProtocol:
            return done(None, "only http:// and https:// addresses can be called")


_Connection = httpcore.AsyncHTTPConnection


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None
