"""Outbound HTTP that never reaches where it must not.

URL imports and webhooks fetch addresses an admin types in, so a request must not become a
way into the box's own network. Every connection resolves the host once, checks every
address it resolves to, and then connects to a checked address while still sending the
original Host header and verifying TLS against the original host name (SNI). A DNS answer
that changes between the check and the connection (DNS rebinding) therefore changes nothing.
Redirects are followed here, one hop at a time, and each hop is checked the same way.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
_HOST = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$")


class OutboundError(Exception):
    """A request could not be made or completed; the message is shown to the user as is."""


class BlockedAddress(OutboundError):
    """The host is, or resolves to, an address Chatmina must not connect to.

    ``allowable`` is False for addresses no allowlist can open (link-local, cloud metadata).
    """

    def __init__(self, message: str, allowable: bool = True) -> None:
        super().__init__(message)
        self.allowable = allowable


class ResponseTooLarge(OutboundError):
    pass


class TooManyRedirects(OutboundError):
    pass


# -- which addresses are blocked -----------------------------------------------------------

_NEVER: tuple[tuple[str, str], ...] = (
    ("169.254.169.254/32", "a cloud metadata address"),
    ("100.100.100.200/32", "a cloud metadata address"),
    ("168.63.129.16/32", "a cloud metadata address"),
    ("fd00:ec2::254/128", "a cloud metadata address"),
    ("169.254.0.0/16", "a link-local address"),
    ("fe80::/10", "a link-local address"),
)
_UNLESS_ALLOWED: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "an unspecified address"),
    ("10.0.0.0/8", "a private address"),
    ("172.16.0.0/12", "a private address"),
    ("192.168.0.0/16", "a private address"),
    ("127.0.0.0/8", "a loopback address"),
    ("100.64.0.0/10", "a carrier-grade NAT address"),
    ("192.0.0.0/24", "a reserved address"),
    ("192.0.2.0/24", "a documentation address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
    ("::/128", "an unspecified address"),
    ("::1/128", "a loopback address"),
    ("fc00::/7", "a private address (unique local)"),
    ("fec0::/10", "a private address (site local)"),
    ("ff00::/8", "a multicast address"),
    ("2001:db8::/32", "a documentation address"),
    ("64:ff9b:1::/48", "a private address (local NAT64)"),
    ("100::/64", "a reserved address"),
)
_NEVER_NETWORKS = tuple((ipaddress.ip_network(net), why) for net, why in _NEVER)
_BLOCKED_NETWORKS = tuple((ipaddress.ip_network(net), why) for net, why in _UNLESS_ALLOWED)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def _classify(ip: IPAddress) -> tuple[str, bool] | None:
    """(why it is blocked, whether an allowlist may open it), or None for a public address."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return _classify(embedded)
    for network, why in _NEVER_NETWORKS:
        if ip in network:
            return why, False
    for network, why in _BLOCKED_NETWORKS:
        if ip in network:
            return why, True
    if not ip.is_global:
        return "a reserved address", True
    return None


# -- the allowlist -------------------------------------------------------------------------


def _normal_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(host))
    return host


def _key(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port is None else f"{shown}:{port}"


@dataclass(frozen=True)
class Allowlist:
    """Hosts that may be reached although they resolve to private or loopback addresses:
    "host" (any port) or "host:port" entries, e.g. for an intranet help center."""

    entries: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str) -> Allowlist:
        """Entries separated by commas, spaces or lines. Raises ValueError naming a bad entry."""
        entries = set()
        for raw in re.split(r"[,\s]+", text.strip()):
            if raw:
                entries.add(cls._parse_entry(raw))
        return cls(frozenset(entries))

    @staticmethod
    def _parse_entry(raw: str) -> str:
        problem = ValueError(
            f"'{raw}' is not a host or host:port entry (like intranet.local or 10.0.0.5:8080)"
        )
        entry = raw.strip().lower()
        port: int | None = None
        if entry.startswith("["):
            host, _, rest = entry[1:].partition("]")
            if rest:
                if not rest.startswith(":"):
                    raise problem
                port_text = rest[1:]
                if not port_text.isdigit():
                    raise problem
                port = int(port_text)
        elif entry.count(":") == 1:
            host, _, port_text = entry.partition(":")
            if not port_text.isdigit():
                raise problem
            port = int(port_text)
        else:
            host = entry
        if port is not None and not 0 < port < 65536:
            raise problem
        host = _normal_host(host)
        try:
            ipaddress.ip_address(host)
        except ValueError:
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                raise problem from None
            if not _HOST.match(host):
                raise problem from None
        return _key(host, port)

    def allows(self, host: str, port: int) -> bool:
        host = _normal_host(host)
        return _key(host, None) in self.entries or _key(host, port) in self.entries


def check_address(ip: IPAddress, host: str, port: int, allowlist: Allowlist) -> None:
    """Raise BlockedAddress unless ``ip`` (what ``host`` resolved to) may be connected to."""
    blocked = _classify(ip)
    if blocked is None:
        return
    why, allowable = blocked
    if allowable and (allowlist.allows(host, port) or allowlist.allows(str(ip), port)):
        return
    if _normal_host(host) == str(ip):
        raise BlockedAddress(f"{ip} is {why}", allowable)
    raise BlockedAddress(f"{host} resolves to {ip}, {why}", allowable)


def _lookup(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        infos = []
    addresses: list[IPAddress] = []
    for family, _, _, _, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            # IPv6 link-local answers carry a zone ('fe80::1%eth0'); the address decides.
            ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if ip not in addresses:
                addresses.append(ip)
    if not addresses:
        raise OutboundError(f"{host} could not be found (DNS lookup failed)")
    return addresses


def resolve_all_checked(host: str, port: int, allowlist: Allowlist) -> list[str]:
    """Resolve ``host`` once and check every address; all of them, in the resolver's order."""
    literal = _normal_host(host)
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(literal)]
    except ValueError:
        addresses = _lookup(host, port)
    # Every answer is checked, not only the one used: an attacker's DNS server could mix a
    # public address with a private one and let the operating system pick.
    for ip in addresses:
        check_address(ip, host, port, allowlist)
    return [str(ip) for ip in addresses]


def resolve_checked(host: str, port: int, allowlist: Allowlist) -> str:
    """Resolve ``host`` once, check every address, and return the one to connect to."""
    return resolve_all_checked(host, port, allowlist)[0]


# -- connecting ----------------------------------------------------------------------------


class _CheckedBackend(httpcore.NetworkBackend):
    """Connects to checked addresses only; TLS still verifies the original host name,
    because httpcore hands start_tls the URL's host, not the address connected to."""

    def __init__(self, allowlist: Allowlist) -> None:
        self._allowlist = allowlist
        self._sockets = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: object = None,
    ) -> httpcore.NetworkStream:
        failure: Exception | None = None
        for address in resolve_all_checked(host, port, self._allowlist):
            try:
                return self._sockets.connect_tcp(address, port, timeout, local_address, None)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: object = None
    ) -> httpcore.NetworkStream:
        raise BlockedAddress("Unix sockets are never reachable", allowable=False)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _original(error: Exception) -> BaseException | None:
    # httpcore wraps socket and TLS errors as the first argument of its own exception (and
    # its pool re-raises "from None", so __cause__ cannot be relied on).
    if error.args and isinstance(error.args[0], BaseException):
        return error.args[0]
    return error.__cause__ or error.__context__


@contextlib.contextmanager
def plain_errors(host: str) -> Iterator[None]:
    """httpcore's exceptions, turned into messages a user can act on."""
    try:
        yield
    except httpcore.ConnectTimeout:
        raise OutboundError(f"{host} did not answer in time") from None
    except httpcore.TimeoutException:
        raise OutboundError(f"{host} took too long to respond") from None
    except httpcore.ConnectError as error:
        cause = _original(error)
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or "not trusted"
            raise OutboundError(f"The TLS certificate of {host} is not valid ({reason})") from None
        if isinstance(cause, ssl.SSLError):
            raise OutboundError(f"A secure connection to {host} failed ({cause.reason})") from None
        if isinstance(cause, ConnectionRefusedError):
            raise OutboundError(f"{host} refused the connection") from None
        raise OutboundError(f"Could not connect to {host} ({cause or error})") from None
    except httpcore.ProtocolError:
        raise OutboundError(f"{host} sent a response that is not valid HTTP") from None
    except httpcore.NetworkError:
        raise OutboundError(f"The connection to {host} broke off") from None
    except httpcore.UnsupportedProtocol:
        raise OutboundError("Only http:// and https:// addresses can be fetched") from None


class _ResponseBody(httpx.SyncByteStream):
    def __init__(self, response: httpcore.Response, host: str) -> None:
        self._response = response
        self._host = host

    def __iter__(self) -> Iterator[bytes]:
        with plain_errors(self._host):
            yield from self._response.iter_stream()

    def close(self) -> None:
        self._response.close()


class _CheckedTransport(httpx.BaseTransport):
    def __init__(self, allowlist: Allowlist, ssl_context: ssl.SSLContext) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context, network_backend=_CheckedBackend(allowlist)
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with plain_errors(request.url.host):
            response = self._pool.handle_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseBody(response, request.url.host),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    # certifi's bundle, like httpx: the packaged binary cannot count on the system's store.
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


# -- requests ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    url: str  # after redirects


def _size(limit: int) -> str:
    mb = limit / (1024 * 1024)
    if mb >= 1:
        return f"{mb:.0f} MB" if mb == int(mb) else f"{mb:.1f} MB"
    return f"{max(limit // 1024, 1)} KB"


def _checked_url(url: str) -> str:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise OutboundError(f"{url} is not a valid address") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise OutboundError("Only http:// and https:// addresses can be fetched")
    if not parts.hostname or port == 0:
        raise OutboundError(f"{url} has no host name")
    return url.strip()


def check_destination(url: str, allowlist: Allowlist) -> tuple[str, int]:
    """Check that ``url`` is an http(s) address this server may connect to, now; returns
    its (host, port). For addresses saved to be used later by another client (a
    workspace's chat model); what this module fetches is checked at every connection."""
    checked = _checked_url(url)
    scheme, host, port = _origin(checked)
    port = port or (443 if scheme == "https" else 80)
    resolve_checked(host, port, allowlist)
    return host, port


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)  # only called on URLs _checked_url accepted
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def _send(
    client: httpx.Client,
    method: str,
    url: str,
    headers: Mapping[str, str],
    content: bytes | None,
    max_bytes: int,
    deadline: float,
) -> tuple[int, dict[str, str], bytes]:
    try:
        with client.stream(method, url, headers=headers, content=content) as response:
            found: dict[str, str] = {}
            for name, value in response.headers.multi_items():
                key = name.lower()
                found[key] = f"{found[key]}, {value}" if key in found else value
            if response.status_code in _REDIRECTS:
                return response.status_code, found, b""
            declared = found.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise ResponseTooLarge(f"The response is larger than the {_size(max_bytes)} limit")
            parts: list[bytes] = []
            received = 0
            for part in response.iter_bytes():
                received += len(part)
                if received > max_bytes:
                    raise ResponseTooLarge(
                        f"The response is larger than the {_size(max_bytes)} limit"
                    )
                if time.monotonic() > deadline:
                    raise OutboundError(f"{response.url.host} took too long to send the response")
                parts.append(part)
            return response.status_code, found, b"".join(parts)
    except httpx.InvalidURL:
        raise OutboundError(f"{url} is not a valid address") from None
    except httpx.HTTPError as error:
        raise OutboundError(f"The request to {url} failed ({error})") from None


def request(
    method: str,
    url: str,
    *,
    allowlist: Allowlist,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    timeout: float = 10.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_redirects: int = 5,
    total_timeout: float = 60.0,
    ssl_context: ssl.SSLContext | None = None,
) -> Response:
    """One HTTP request, following up to ``max_redirects`` redirects, every hop checked.

    ``timeout`` bounds each connect and read, ``total_timeout`` the whole exchange; the body
    is read up to ``max_bytes``. Raises OutboundError (or a subclass) with a user-facing
    message; any HTTP status, 4xx and 5xx included, is returned as a Response.
    """
    deadline = time.monotonic() + total_timeout
    current = _checked_url(url)
    send_headers = {
        "user-agent": "Chatmina",
        # Compressed bodies can expand enormously in one read; asking for none keeps the
        # size limit meaningful. A server that compresses anyway is still counted decoded.
        "accept-encoding": "identity",
    }
    send_headers.update((name.lower(), value) for name, value in (headers or {}).items())
    seen = {current}
    transport = _CheckedTransport(allowlist, ssl_context or default_ssl_context())
    with httpx.Client(
        transport=transport, trust_env=False, timeout=httpx.Timeout(timeout)
    ) as client:
        for hop in range(max_redirects + 1):
            try:
                status, found, body = _send(
                    client, method, current, send_headers, content, max_bytes, deadline
                )
            except OutboundError as error:
                if hop:
                    error.args = (f"{url} redirects to {current}, but {error}",)
                raise
            location = found.get("location", "")
            if status not in _REDIRECTS or not location:
                return Response(status, found, body, current)
            try:
                target = _checked_url(urljoin(current, location.strip()))
            except OutboundError:
                raise OutboundError(
                    f"{url} redirects to {location.strip()}, which is not an http(s) address"
                ) from None
            if target in seen:
                raise TooManyRedirects(f"{url} redirects in a loop (back to {target})")
            seen.add(target)
            if _origin(target) != _origin(current):
                send_headers = {
                    k: v for k, v in send_headers.items() if k not in _CREDENTIAL_HEADERS
                }
            if status == 303 or (status in (301, 302) and method.upper() == "POST"):
                method, content = "GET", None
            current = target
    raise TooManyRedirects(f"{url} redirects too many times (more than {max_redirects})")
