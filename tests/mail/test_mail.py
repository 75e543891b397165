"""Email: the encrypted outbox, delivery through a real SMTP server, the SMTP settings page
and who may see it, and the password-reset emails."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from chatmina.errors import UserError
from chatmina.mail.models import SmtpConfig
from chatmina.mail.service import MailError
from tests.conftest import PASSWORD, Browser, Personas
from tests.mail.conftest import (
    SMTP_PASSWORD,
    SMTP_USER,
    SmtpServer,
    free_port,
    self_signed_tls,
    start_smtp_server,
)

NEWCOMER = "newcomer@example.com"
LINK = re.compile(r"https?://[^\s<>\"]+\?token=[\w.~-]+")


def save_smtp(client: Browser, **fields: str) -> Any:
    form = {
        "host": "127.0.0.1",
        "port": "25",
        "security": "none",
        "username": "",
        "password": "",
        "from_address": "Acme Support <help@acme.test>",
        **fields,
    }
    return client.submit("/instance/email", form)


def invite(client: Browser, slug: str) -> None:
    response = client.submit(f"/w/{slug}/members/invite", {"email": NEWCOMER, "role": "agent"})
    assert response.status_code == 303, response.text


def flash_after(client: Browser, response: Any) -> str:
    """The page the browser lands on after a redirect, with its flash message."""
    assert response.status_code == 303, response.text
    return str(client.get(response.headers["location"]).text)


def outbox_files(services: Any) -> list[Path]:
    return sorted((services.settings.data_path / "outbox").glob("*.eml.enc"))


# -- the outbox ----------------------------------------------------------------------------


def test_without_smtp_an_invitation_is_kept_encrypted_in_the_outbox(
    client: Browser, services: Any, personas: Personas
) -> None:
    client.login("alice@example.com")
    invite(client, personas.a_slug)

    listing = client.get("/instance/outbox")
    assert listing.status_code == 200
    assert "No SMTP server is set up" in listing.text
    assert "Alice invited you to Acme Support on Chatmina" in listing.text
    [message_id] = re.findall(r'href="/instance/outbox/([^"]+)"', listing.text)

    message = client.get(f"/instance/outbox/{message_id}")
    assert message.status_code == 200
    assert NEWCOMER in message.text
    link = LINK.search(message.text)
    assert link is not None and "/invite?token=" in link.group(0)
    assert f'href="{link.group(0)}"' in message.text

    [sealed] = outbox_files(services)
    raw = sealed.read_bytes()
    assert NEWCOMER.encode() not in raw
    assert link.group(0).encode() not in raw
    assert urlsplit(link.group(0)).query.encode() not in raw


def test_the_outbox_shows_an_empty_state_and_unknown_messages_are_not_found(
    client: Browser, personas: Personas
) -> None:
    client.login("alice@example.com")
    assert "The outbox is empty" in client.get("/instance/outbox").text
    assert client.get("/instance/outbox/20260101T000000000000-deadbeef").status_code == 404


# -- sending through SMTP ------------------------------------------------------------------


def test_with_smtp_an_invitation_arrives_with_the_link_in_text_and_html(
    client: Browser, services: Any, personas: Personas, smtp_server: SmtpServer
) -> None:
    client.login("alice@example.com")
    assert save_smtp(client, port=str(smtp_server.port)).status_code == 303
    invite(client, personas.a_slug)

    [received] = smtp_server.received
    message = received.message
    assert message["To"] == NEWCOMER
    assert message["From"] == "Acme Support <help@acme.test>"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    link = LINK.search(text)
    assert link is not None and link.group(0) in text.splitlines(), "on its own line"
    assert link.group(0) in html.unescape(message.get_body(("html",)).get_content())
    assert outbox_files(services) == []


def test_the_smtp_password_is_stored_encrypted_and_never_shown(
    client: Browser, services: Any, personas: Personas
) -> None:
    client.login("alice@example.com")
    assert save_smtp(client, username=SMTP_USER, password=SMTP_PASSWORD).status_code == 303

    with services.db.read() as s:
        row = s.scalar(select(SmtpConfig))
    assert row.password_encrypted and SMTP_PASSWORD not in row.password_encrypted
    assert services.mailer.smtp_settings().password == SMTP_PASSWORD
    page = client.get("/instance/email").text
    assert SMTP_PASSWORD not in page
    assert "A password is stored" in page

    save_smtp(client, username=SMTP_USER, password="")
    assert services.mailer.smtp_settings().password == SMTP_PASSWORD, "empty keeps it"
    save_smtp(client, username=SMTP_USER, clear_password="1")
    assert services.mailer.smtp_settings().password == ""


def test_smtp_login_with_the_right_password_sends_the_test_email(
    client: Browser, personas: Personas, smtp_server: SmtpServer
) -> None:
    client.login("alice@example.com")
    save_smtp(client, port=str(smtp_server.port), username=SMTP_USER, password=SMTP_PASSWORD)

    landed = flash_after(client, client.submit("/instance/email/test", {"to": ""}))
    assert "Sent through the SMTP server: a test email to alice@example.com." in landed
    [received] = smtp_server.received
    assert received.authenticated
    assert received.message["Subject"] == "Chatmina test email"


def test_smtp_login_with_a_wrong_password_says_the_password_was_rejected(
    services: Any, smtp_server: SmtpServer
) -> None:
    services.mailer.save_smtp_settings(
        host="127.0.0.1",
        port=smtp_server.port,
        security="none",
        username=SMTP_USER,
        password="not-the-password",
        from_address="",
    )
    with pytest.raises(MailError, match="rejected the user name or password"):
        services.mailer.send_template("x@example.com", "test", {"name": "X"})
    assert smtp_server.received == []


@pytest.mark.parametrize(
    ("to", "message"),
    [
        ("not an address", "Enter a valid email address"),
        ("a@example.com\nBcc: everyone@example.com", "Enter a valid email address"),
        ("x" * 400 + "@example.com", "at most 300 characters"),
    ],
)
def test_a_bad_test_email_address_is_refused_and_nothing_is_sent(
    client: Browser, personas: Personas, services: Any, to: str, message: str
) -> None:
    client.login("alice@example.com")
    landed = flash_after(client, client.submit("/instance/email/test", {"to": to}))
    assert message in landed
    assert outbox_files(services) == []


def test_the_mailer_refuses_anything_but_one_plain_address(services: Any) -> None:
    for to in ["a@example.com\r\nBcc: b@example.com", "a@example.com, b@example.com", "nobody"]:
        with pytest.raises(UserError, match="is not a single email address"):
            services.mailer.send(to, "Subject", "text", "<p>html</p>")
    assert outbox_files(services) == []


def test_an_unreachable_smtp_server_gives_a_clear_message_not_a_crash(
    client: Browser, personas: Personas
) -> None:
    client.login("alice@example.com")
    port = free_port()
    save_smtp(client, port=str(port))

    landed = flash_after(client, client.submit("/instance/email/test", {"to": "x@example.com"}))
    assert f"Could not connect to 127.0.0.1:{port}" in landed


def test_starttls_with_a_self_signed_certificate_is_refused(services: Any, tmp_path: Path) -> None:
    server, controller = start_smtp_server(tls_context=self_signed_tls())
    try:
        services.mailer.save_smtp_settings(
            host="127.0.0.1",
            port=server.port,
            security="starttls",
            username="",
            password=None,
            from_address="",
        )
        with pytest.raises(MailError, match=r"TLS with the SMTP server failed: .*certificate"):
            services.mailer.send_template("x@example.com", "test", {"name": "X"})
    finally:
        controller.stop()
    assert server.received == []


# -- the settings form ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("port", "abc", "Enter a port number, like 587."),
        ("port", "70000", "Enter a port between 1 and 65535."),
        ("security", "ssl3", "Choose STARTTLS, TLS or none."),
        ("host", "smtp example.com", "Enter a host name like smtp.example.com."),
    ],
)
def test_bad_smtp_settings_are_refused_next_to_the_field_and_nothing_changes(
    client: Browser, services: Any, personas: Personas, field: str, value: str, message: str
) -> None:
    client.login("alice@example.com")
    save_smtp(client, host="smtp.acme.test", port="587", security="starttls")
    before = services.mailer.smtp_settings()

    response = save_smtp(client, **{"host": "smtp.other.test", field: value})
    assert response.status_code == 400
    assert f'id="field-{field}-error"' in response.text
    assert message in response.text
    assert services.mailer.smtp_settings() == before


# -- password reset ------------------------------------------------------------------------


def test_a_password_reset_email_lets_alice_choose_a_new_password_once(
    client: Browser, services: Any, personas: Personas
) -> None:
    response = client.submit("/forgot-password", {"email": "alice@example.com"})
    assert response.status_code == 303

    [message] = services.mailer.outbox_messages()
    assert message.to == "alice@example.com"
    link = LINK.search(message.text)
    assert link is not None
    url = urlsplit(link.group(0))
    assert url.path == "/reset-password"
    token = url.query.removeprefix("token=")

    assert client.get(f"{url.path}?{url.query}").status_code == 200
    new = {
        "token": token,
        "password": "a brand new password",
        "password_confirm": "a brand new password",
    }
    assert client.submit("/reset-password", new).status_code == 303
    client.login("alice@example.com", "a brand new password")

    again = client.submit(
        "/reset-password", {**new, "password": "x" * 12, "password_confirm": "x" * 12}
    )
    assert again.status_code == 400
    assert "already been used" in again.text
    assert "already been used" in client.get(f"{url.path}?{url.query}").text


def test_a_reset_for_an_unknown_email_looks_the_same_and_sends_nothing(
    client: Browser, services: Any, personas: Personas
) -> None:
    known = client.submit("/forgot-password", {"email": "alice@example.com"})
    unknown = client.submit("/forgot-password", {"email": "nobody@example.com"})

    assert (unknown.status_code, unknown.headers["location"]) == (
        known.status_code,
        known.headers["location"],
    )
    assert unknown.cookies["chatmina_flash"] == known.cookies["chatmina_flash"]
    assert [m.to for m in services.mailer.outbox_messages()] == ["alice@example.com"]
    client.login("alice@example.com", PASSWORD)
