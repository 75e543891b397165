"""Outbound requests: which addresses are refused, the allowlist, redirects, size limits, TLS.

Every request goes to a real server on 127.0.0.1; only DNS answers are faked, by replacing
``socket.getaddrinfo`` (the edge of the network), where a test needs a name to resolve to a
chosen address.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from chatmina import net
from chatmina.net import Allowlist, BlockedAddress, OutboundError, check_address, resolve_checked
from tests.fakes.website import Website, certificate_for

NOBODY = Allowlist()


@pytest.fixture
def site() -> Iterator[Website]:
    with Website() as website:
        website.add("/", "<h1>Hello</h1>")
        yield website


def fake_dns(
    monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]
) -> list[tuple[str, int]]:
    """Names in ``answers`` resolve to those addresses; returns the list of lookups made."""
    lookups: list[tuple[str, int]] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            lookups.append((host, port))
            return [
                (
                    socket.AF_INET6 if ":" in ip else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (ip, port, 0, 0) if ":" in ip else (ip, port),
                )
                for ip in answers[host]
            ]
        if isinstance(host, str) and host.endswith(".test"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


# -- the allowlist -------------------------------------------------------------------------


def test_allowlist_parses_hosts_and_ports_separated_by_commas_spaces_or_lines() -> None:
    allowlist = Allowlist.parse("intranet.local, 10.0.0.5:8080\nDocs.Example.COM.  [::1]:9000")
    assert allowlist.entries == frozenset(
        {"intranet.local", "10.0.0.5:8080", "docs.example.com", "[::1]:9000"}
    )
    assert allowlist.allows("intranet.local", 443)
    assert allowlist.allows("INTRANET.local.", 80)
    assert allowlist.allows("10.0.0.5", 8080)
    assert not allowlist.allows("10.0.0.5", 8081)
    assert allowlist.allows("::1", 9000)
    assert not allowlist.allows("::1", 80)
    assert Allowlist.parse("").entries == frozenset()


@pytest.mark.parametrize(
    "entry", ["http://intranet.local", "host:port", "host:70000", "a/b", "[::1]x", "bad_host!"]
)
def test_allowlist_names_an_entry_it_cannot_use(entry: str) -> None:
    with pytest.raises(ValueError, match="is not a host or host:port entry"):
        Allowlist.parse(f"fine.example, {entry}")


# -- which addresses are refused -----------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("10.0.0.5", "a private address"),
        ("172.16.3.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("127.0.0.1", "a loopback address"),
        ("127.9.9.9", "a loopback address"),
        ("100.64.1.1", "a carrier-grade NAT address"),
        ("0.0.0.0", "an unspecified address"),
        ("224.0.0.251", "a multicast address"),
        ("255.255.255.255", "a reserved address"),
        ("192.0.2.10", "a documentation address"),
        ("::1", "a loopback address"),
        ("::", "an unspecified address"),
        ("fd12:3456::1", "a private address (unique local)"),
        ("ff02::1", "a multicast address"),
        ("::ffff:10.0.0.1", "a private address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("64:ff9b::7f00:1", "a loopback address"),
        ("2002:0a00:0001::1", "a private address"),
    ],
)
def test_private_and_special_addresses_are_refused_unless_allowlisted(
    address: str, why: str
) -> None:
    ip = ipaddress.ip_address(address)
    with pytest.raises(BlockedAddress) as refused:
        check_address(ip, "fetch.example", 80, NOBODY)
    assert str(refused.value) == f"fetch.example resolves to {ip}, {why}"
    assert refused.value.allowable
    check_address(ip, "fetch.example", 80, Allowlist.parse("fetch.example:80"))
    check_address(
        ip, "fetch.example", 80, Allowlist.parse(f"[{ip}]" if ip.version == 6 else address)
    )


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("169.254.169.254", "a cloud metadata address"),
        ("100.100.100.200", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("169.254.10.20", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("::ffff:169.254.169.254", "a cloud metadata address"),
    ],
)
def test_link_local_and_metadata_addresses_are_refused_even_when_allowlisted(
    address: str, why: str
) -> None:
    ip = ipaddress.ip_address(address)
    everything = Allowlist.parse(f"metadata.example, {address if ip.version == 4 else ''}")
    with pytest.raises(BlockedAddress, match=why) as refused:
        check_address(ip, "metadata.example", 80, everything)
    assert not refused.value.allowable


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    check_address(ipaddress.ip_address(address), "example.com", 443, NOBODY)


def test_an_address_typed_as_the_host_is_named_once_in_the_message() -> None:
    with pytest.raises(BlockedAddress, match=r"^10\.1\.2\.3 is a private address$"):
        resolve_checked("10.1.2.3", 80, NOBODY)
    assert resolve_checked("10.1.2.3", 80, Allowlist.parse("10.1.2.3")) == "10.1.2.3"


def test_every_resolved_address_is_checked_not_only_the_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_dns(monkeypatch, {"mixed.test": ["93.184.216.34", "10.0.0.7"]})
    with pytest.raises(
        BlockedAddress, match=r"mixed\.test resolves to 10\.0\.0\.7, a private address"
    ):
        resolve_checked("mixed.test", 443, NOBODY)


def test_a_name_that_does_not_resolve_gets_a_clear_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_dns(monkeypatch, {})
    with pytest.raises(OutboundError, match=r"^nowhere.test could not be found \(DNS lookup"):
        resolve_checked("nowhere.test", 443, NOBODY)


# -- requests ------------------------------------------------------------------------------


def test_a_request_to_an_allowlisted_local_server_succeeds(site: Website) -> None:
    response = net.request("GET", site.url("/"), allowlist=Allowlist.parse(site.address))
    assert response.status == 200
    assert response.body == b"<h1>Hello</h1>"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.url == site.url("/")
    assert site.requests[-1].headers["user-agent"] == "Chatmina"
    own_agent = {"USER-AGENT": "Chatmina-Webhooks/1"}
    net.request("GET", site.url("/"), allowlist=Allowlist.parse(site.address), headers=own_agent)
    assert site.requests[-1].headers["user-agent"] == "Chatmina-Webhooks/1"


def test_a_local_server_is_refused_without_an_allowlist_entry(site: Website) -> None:
    with pytest.raises(BlockedAddress, match=r"^127\.0\.0\.1 is a loopback address$"):
        net.request("GET", site.url("/"), allowlist=NOBODY)
    other_port = Allowlist.parse(f"127.0.0.1:{site.port + 1}")
    with pytest.raises(BlockedAddress):
        net.request("GET", site.url("/"), allowlist=other_port)
    assert site.requests == []


def test_the_checked_address_is_connected_to_with_the_original_host_header(
    site: Website, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One lookup per connection: a second lookup is what DNS rebinding would exploit.
    lookups = fake_dns(monkeypatch, {"shop.test": ["127.0.0.1"]})
    allowlist = Allowlist.parse(f"shop.test:{site.port}")
    response = net.request("GET", site.url("/", host="shop.test"), allowlist=allowlist)
    assert response.body == b"<h1>Hello</h1>"
    assert lookups == [("shop.test", site.port)]
    assert site.requests[-1].headers["host"] == f"shop.test:{site.port}"


def test_tls_is_verified_against_the_host_name_not_the_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server_tls, client_tls = certificate_for("shop.test")
    fake_dns(monkeypatch, {"shop.test": ["127.0.0.1"], "wrong.test": ["127.0.0.1"]})
    with Website(tls=server_tls) as site:
        site.add("/", "secure")
        allowlist = Allowlist.parse("shop.test, wrong.test")
        response = net.request(
            "GET", site.url("/", host="shop.test"), allowlist=allowlist, ssl_context=client_tls
        )
        assert response.body == b"secure"
        with pytest.raises(OutboundError, match=r"The TLS certificate of wrong\.test is not valid"):
            net.request(
                "GET", site.url("/", host="wrong.test"), allowlist=allowlist, ssl_context=client_tls
            )
        with pytest.raises(OutboundError, match=r"The TLS certificate of shop\.test is not valid"):
            net.request("GET", site.url("/", host="shop.test"), allowlist=allowlist)


def test_a_redirect_to_a_private_address_is_refused(site: Website) -> None:
    site.redirect("/go", "http://10.0.0.5/admin")
    with pytest.raises(BlockedAddress) as refused:
        net.request("GET", site.url("/go"), allowlist=Allowlist.parse(site.address))
    assert str(refused.value) == (
        f"{site.url('/go')} redirects to http://10.0.0.5/admin, but 10.0.0.5 is a private address"
    )


def test_each_redirect_hop_is_checked_against_the_allowlist_with_its_port(site: Website) -> None:
    with Website() as other:
        other.add("/secret", "internal")
        site.redirect("/go", other.url("/secret"))
        with pytest.raises(BlockedAddress, match=r"127\.0\.0\.1 is a loopback address"):
            net.request("GET", site.url("/go"), allowlist=Allowlist.parse(site.address))
        assert other.requests == []
        both = Allowlist.parse(f"{site.address}, {other.address}")
        assert net.request("GET", site.url("/go"), allowlist=both).body == b"internal"


def test_redirects_are_followed_with_relative_locations(site: Website) -> None:
    site.redirect("/a", "/b", status=301)
    site.redirect("/b", "c", status=308)
    site.add("/c", "done")
    response = net.request("GET", site.url("/a"), allowlist=Allowlist.parse(site.address))
    assert (response.status, response.body, response.url) == (200, b"done", site.url("/c"))
    assert site.paths() == ["/a", "/b", "/c"]


def test_a_redirect_loop_is_stopped(site: Website) -> None:
    site.redirect("/ping", "/pong")
    site.redirect("/pong", "/ping")
    with pytest.raises(net.TooManyRedirects, match="redirects in a loop"):
        net.request("GET", site.url("/ping"), allowlist=Allowlist.parse(site.address))
    assert site.paths() == ["/ping", "/pong"]


def test_at_most_five_redirects_are_followed(site: Website) -> None:
    for hop in range(7):
        site.redirect(f"/{hop}", f"/{hop + 1}")
    site.add("/7", "far away")
    allowlist = Allowlist.parse(site.address)
    with pytest.raises(net.TooManyRedirects, match=r"too many times \(more than 5\)"):
        net.request("GET", site.url("/0"), allowlist=allowlist)
    assert net.request("GET", site.url("/2"), allowlist=allowlist).body == b"far away"


def test_a_redirect_to_another_scheme_is_refused(site: Website) -> None:
    site.redirect("/go", "file:///etc/passwd")
    with pytest.raises(OutboundError, match="not an http"):
        net.request("GET", site.url("/go"), allowlist=Allowlist.parse(site.address))


def test_see_other_turns_a_post_into_a_get_and_credentials_stay_on_their_origin(
    site: Website,
) -> None:
    with Website() as other:
        other.add("/done", "ok")
        site.redirect("/submit", other.url("/done"), status=303)
        allowlist = Allowlist.parse(f"{site.address}, {other.address}")
        response = net.request(
            "POST",
            site.url("/submit"),
            allowlist=allowlist,
            headers={"Authorization": "Bearer secret"},
            content=b"{}",
        )
        assert response.body == b"ok"
        assert site.requests[-1].headers["authorization"] == "Bearer secret"
        assert other.requests[-1].method == "GET"
        assert "authorization" not in other.requests[-1].headers


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "streamed"])
def test_a_response_over_the_size_limit_is_refused(site: Website, chunked: bool) -> None:
    site.add("/big", b"x" * 200_000, "text/plain", chunked=chunked)
    site.add("/fits", b"x" * 100_000, "text/plain", chunked=chunked)
    allowlist = Allowlist.parse(site.address)
    with pytest.raises(net.ResponseTooLarge, match="larger than the 146 KB limit"):
        net.request("GET", site.url("/big"), allowlist=allowlist, max_bytes=150_000)
    assert len(net.request("GET", site.url("/fits"), allowlist=allowlist).body) == 100_000


def test_error_statuses_are_returned_not_raised(site: Website) -> None:
    site.add("/broken", "oops", status=503)
    allowlist = Allowlist.parse(site.address)
    assert net.request("GET", site.url("/broken"), allowlist=allowlist).status == 503
    assert net.request("GET", site.url("/missing"), allowlist=allowlist).status == 404


def test_a_slow_server_times_out_with_a_clear_message(site: Website) -> None:
    site.add("/slow", "late", delay=1.0)
    with pytest.raises(OutboundError, match="took too long"):
        net.request("GET", site.url("/slow"), allowlist=Allowlist.parse(site.address), timeout=0.2)


def test_a_closed_port_is_reported_as_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OutboundError, match=r"127\.0\.0\.1 refused the connection"):
        net.request("GET", f"http://127.0.0.1:{port}/", allowlist=Allowlist.parse("127.0.0.1"))


@pytest.mark.parametrize("url", ["ftp://example.com/file", "file:///etc/passwd", "http:///path"])
def test_only_http_urls_with_a_host_are_requested(url: str) -> None:
    with pytest.raises(OutboundError):
        net.request("GET", url, allowlist=NOBODY)


def test_a_destination_saved_for_later_is_checked_with_its_default_port() -> None:
    from chatmina.net import check_destination

    assert check_destination("http://127.0.0.1/v1", Allowlist.parse("127.0.0.1:80")) == (
        "127.0.0.1",
        80,
    )
    with pytest.raises(BlockedAddress, match=r"127\.0\.0\.1 is"):
        check_destination("https://127.0.0.1/v1", Allowlist.parse("127.0.0.1:80"))
    with pytest.raises(OutboundError, match="Only http:// and https://"):
        check_destination("ftp://example.com/v1", NOBODY)
