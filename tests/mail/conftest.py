"""A real SMTP server (aiosmtpd) on 127.0.0.1 that records what it receives."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509

from chatmina.ui.context import Services
from tests.fakes.tls import self_signed, server_context

SMTP_USER = "mailer"
SMTP_PASSWORD = "s3cret-smtp-pass"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Received:
    message: EmailMessage
    authenticated: bool


@dataclass
class SmtpServer:
    port: int
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        self.received.append(Received(message, bool(session.authenticated)))
        return "250 Message accepted"


def check_login(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    valid = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode(),
        auth_data.password.decode(),
    ) == (SMTP_USER, SMTP_PASSWORD)
    return AuthResult(success=valid, handled=False)


def start_smtp_server(tls_context: ssl.SSLContext | None = None) -> tuple[SmtpServer, Controller]:
    server = SmtpServer(free_port())
    # server_hostname skips aiosmtpd's getfqdn(), which can take seconds without DNS.
    kwargs: dict[str, Any] = {"server_hostname": "smtp.test"}
    if tls_context is None:
        kwargs |= {"authenticator": check_login, "auth_require_tls": False}
    else:
        kwargs |= {"tls_context": tls_context, "require_starttls": False}
    controller = Controller(server, hostname="127.0.0.1", port=server.port, **kwargs)
    controller.start()
    return server, controller


def self_signed_tls() -> ssl.SSLContext:
    """A server certificate for 127.0.0.1 that no client trusts."""
    ip = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
    return server_context(*self_signed("127.0.0.1", [ip]))


@contextmanager
def configured_smtp(services: Services, from_address: str = "") -> Iterator[SmtpServer]:
    """A running SMTP server that ``services`` sends through (with a login)."""
    server, controller = start_smtp_server()
    services.mailer.save_smtp_settings(
        host="127.0.0.1",
        port=server.port,
        security="none",
        username=SMTP_USER,
        password=SMTP_PASSWORD,
        from_address=from_address,
    )
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server, controller = start_smtp_server()
    yield server
    controller.stop()
