"""The checked outbound client against real local servers: what it refuses, and how every
failure of the other side comes back as a clear sentence instead of an exception."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509

from chatmina.errors import UserError
from chatmina.webhooks import signing
from chatmina.webhooks.client import OutboundClient, check_url
from tests.fakes.tls import self_signed, server_context
from tests.fakes.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.anyio
SECRET = signing.new_secret()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as running:
        yield running


async def _send(url: str, allowed: frozenset[str], body: bytes = b'{"x":1}', **kw: Any) -> Any:
    client = OutboundClient(kw.pop("ssl_context", None))
    try:
        headers = signing.signature_headers([SECRET], "msg_test", int(time.time()), body)
        headers["content-type"] = "application/json"
        options: dict[str, Any] = {"timeout": 5.0} | kw
        return await client.send(
            url=url, method="POST", headers=headers, body=body, allowed=allowed, **options
        )
    finally:
        await client.aclose()


async def test_an_allowed_loopback_receiver_gets_a_verified_request(
    receiver: WebhookReceiver,
) -> None:
    response = await _send(receiver.url(), frozenset({receiver.address}))
    assert response.error is None and response.status == 200 and response.ok
    assert response.body == b'{"ok":true}' and response.latency_ms > 0
    assert receiver.processed == {"msg_test": {"x": 1}} and receiver.rejected == []


async def test_loopback_is_refused_unless_allowed(receiver: WebhookReceiver) -> None:
    response = await _send(receiver.url(), frozenset())
    assert response.status is None and "127.0.0.1 is a loopback address" in str(response.error)
    assert receiver.arrivals == []
    with pytest.raises(UserError, match="loopback") as refused:
        check_url(receiver.url(), frozenset())
    assert refused.value.field == "url"
    check_url(receiver.url(), frozenset({receiver.address}))  # allowed: no error


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://169.254.169.254/latest/meta-data", "cloud metadata"),
        ("http://169.254.10.10/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[::ffff:169.254.169.254]/", "cloud metadata"),
    ],
)
async def test_link_local_and_metadata_are_refused_even_when_allowlisted(
    url: str, why: str
) -> None:
    host = url.split("/")[2]
    allowed = frozenset({host.strip("[]").lower(), "169.254.169.254"})
    response = await _send(url, allowed)
    assert response.status is None and why in str(response.error)
    with pytest.raises(UserError, match=why):
        check_url(url, allowed)


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Answers for made-up host names (the network edge); other names resolve normally."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def lookup(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            return [
                (
                    socket.AF_INET6 if ":" in ip else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (ip, port),
                )
                for ip in answers[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    return answers


async def test_a_host_name_resolving_to_a_forbidden_address_is_refused(
    fake_dns: dict[str, list[str]], receiver: WebhookReceiver
) -> None:
    fake_dns["hooks.example.com"] = ["93.184.215.14", "169.254.169.254"]
    url = f"http://hooks.example.com:{receiver.port}/hooks"
    response = await _send(url, frozenset({"hooks.example.com"}))
    assert response.error == (
        "hooks.example.com resolves to 169.254.169.254, a cloud metadata address"
    )
    fake_dns["intranet.example.com"] = ["127.0.0.1"]
    url = f"http://intranet.example.com:{receiver.port}/hooks"
    response = await _send(url, frozenset())
    assert "intranet.example.com resolves to 127.0.0.1, a loopback address" in str(response.error)
    assert receiver.arrivals == []


async def test_the_connection_goes_to_the_checked_address_and_keeps_the_host_name(
    fake_dns: dict[str, list[str]], receiver: WebhookReceiver
) -> None:
    fake_dns["crm.example.com"] = ["127.0.0.1"]
    url = f"http://crm.example.com:{receiver.port}/hooks"
    response = await _send(url, frozenset({"crm.example.com"}))
    assert response.status == 200
    assert receiver.arrivals[0].headers["host"] == f"crm.example.com:{receiver.port}"


async def test_redirects_are_reported_not_followed(receiver: WebhookReceiver) -> None:
    receiver.behave(redirect_to=receiver.url())  # a loop: back to itself
    response = await _send(receiver.url(), frozenset({receiver.address}))
    assert response.status == 302 and not response.ok
    assert response.error == f"redirects are not followed (302 to {receiver.url()})"
    assert len(receiver.arrivals) == 1


async def test_a_huge_response_is_cut_at_the_limit_with_a_clear_error(
    receiver: WebhookReceiver,
) -> None:
    receiver.behave(body=b"x" * 5_000_000, content_type="text/plain")
    response = await _send(receiver.url(), frozenset({receiver.address}), max_response_bytes=1024)
    assert response.status == 200 and response.truncated
    assert response.body == b"x" * 1024
    assert response.error == "the response is larger than 1 KB (the rest was not read)"


async def test_a_slow_receiver_times_out(receiver: WebhookReceiver) -> None:
    receiver.behave(delay=3.0)
    began = time.perf_counter()
    response = await _send(receiver.url(), frozenset({receiver.address}), timeout=0.5)
    assert response.status is None and response.error == "timed out after 0.5 s"
    assert time.perf_counter() - began < 2


async def test_a_receiver_that_is_down_refuses_the_connection(receiver: WebhookReceiver) -> None:
    receiver.down()
    response = await _send(receiver.url(), frozenset({receiver.address}))
    assert response.status is None and "refused the connection" in str(response.error)


def _tls_receiver() -> tuple[WebhookReceiver, ssl.SSLContext]:
    cert, key = self_signed("127.0.0.1", [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    return WebhookReceiver(SECRET, tls=server_context(cert, key)), ssl.create_default_context(
        cadata=cert.decode()
    )


async def test_an_untrusted_tls_certificate_is_refused() -> None:
    receiver, _trusting = _tls_receiver()
    with receiver:
        response = await _send(receiver.url(), frozenset({receiver.address}))
    assert response.status is None
    assert "TLS certificate of 127.0.0.1 is not valid" in str(response.error)
    assert receiver.processed == {}


async def test_a_trusted_tls_certificate_is_accepted_and_checked_against_the_host_name(
    fake_dns: dict[str, list[str]],
) -> None:
    receiver, trusting = _tls_receiver()  # names 127.0.0.1 only
    fake_dns["hooks.example.com"] = ["127.0.0.1"]
    with receiver:
        ok = await _send(receiver.url(), frozenset({receiver.address}), ssl_context=trusting)
        other = f"https://hooks.example.com:{receiver.port}/hooks"
        wrong_name = await _send(other, frozenset({"hooks.example.com"}), ssl_context=trusting)
    assert ok.status == 200 and ok.error is None
    assert wrong_name.status is None and "not valid" in str(wrong_name.error)


async def test_a_connection_opened_for_one_allowlist_is_not_reused_for_another(
    receiver: WebhookReceiver,
) -> None:
    client = OutboundClient()
    try:
        body = b"{}"
        headers = signing.signature_headers([SECRET], "msg_a", int(time.time()), body)
        first = await client.send(url=receiver.url(), method="POST", headers=headers, body=body,
                                  timeout=5, allowed=frozenset({receiver.address}))  # fmt: skip
        second = await client.send(url=receiver.url(), method="POST", headers=headers, body=body,
                                   timeout=5, allowed=frozenset())  # fmt: skip
    finally:
        await client.aclose()
    assert first.status == 200
    assert second.status is None and "loopback" in str(second.error)


def test_check_url_names_the_field_for_bad_urls() -> None:
    for bad in ("ftp://example.com/x", "not a url", "http://", "https://example.com/" + "a" * 2100):
        with pytest.raises(UserError) as refused:
            check_url(bad, frozenset(), field="endpoint_url")
        assert refused.value.field == "endpoint_url"
