"""Email: SMTP when an instance admin configured it, otherwise the encrypted outbox.

Outbox messages are files under ``<data dir>/outbox/``, encrypted with the secrets key like
everything else Chatmina keeps: they hold password-reset links. The admin UI lists them.
"""

from __future__ import annotations

import email.policy
import logging
import secrets
import smtplib
import ssl
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select

from chatmina import clock
from chatmina.errors import NotFound, UserError
from chatmina.mail.models import SmtpConfig
from chatmina.paths import TEMPLATES_DIR
from chatmina.storage import crypto
from chatmina.storage.db import Database
from chatmina.storage.keys import Keys

log = logging.getLogger(__name__)

SECURITY_CHOICES = ("starttls", "tls", "none")
_PASSWORD_IDENTITY = "smtp:password"  # noqa: S105 - associated data, not a secret
SMTP_TIMEOUT = 15


class MailError(UserError):
    type = "mail-failed"
    title = "Email not sent"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    username: str
    password: str
    from_address: str


@dataclass(frozen=True)
class OutboxMessage:
    id: str
    to: str
    subject: str
    sent_at: str
    text: str
    html: str


class Mailer:
    def __init__(self, db: Database, keys: Keys, data_dir: Path, default_from: str) -> None:
        self.db = db
        self.keys = keys
        self.outbox = data_dir / "outbox"
        self.default_from = default_from
        self._templates = Environment(
            loader=FileSystemLoader(TEMPLATES_DIR / "email"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    # -- configuration -------------------------------------------------------------------

    def smtp_settings(self) -> SmtpSettings | None:
        with self.db.read() as s:
            row = s.scalar(select(SmtpConfig))
        if row is None or not row.host:
            return None
        password = (
            crypto.decrypt(self.keys.secrets, row.password_encrypted, _PASSWORD_IDENTITY)
            if row.password_encrypted
            else ""
        )
        return SmtpSettings(
            row.host, row.port, row.security, row.username, password, row.from_address
        )

    def save_smtp_settings(
        self,
        *,
        host: str,
        port: str | int,
        security: str,
        username: str,
        password: str | None,
        from_address: str,
    ) -> None:
        """Save SMTP settings. ``password=None`` keeps the stored one; ``""`` clears it."""
        host = host.strip()
        if host and (len(host) > 253 or any(c in host for c in " /:@")):
            raise UserError("Enter a host name like smtp.example.com.", "host")
        try:
            port_number = int(port)
        except (TypeError, ValueError):
            raise UserError("Enter a port number, like 587.", "port") from None
        if not 1 <= port_number <= 65535:
            raise UserError("Enter a port between 1 and 65535.", "port")
        if security not in SECURITY_CHOICES:
            raise UserError("Choose STARTTLS, TLS or none.", "security")
        username = username.strip()
        if len(username) > 254:
            raise UserError("Use at most 254 characters.", "username")
        from_address = from_address.strip()
        if from_address and "@" not in parseaddr(from_address)[1]:
            raise UserError("Enter a sender like Support <help@example.com>.", "from_address")
        if password is not None and len(password) > 1024:
            raise UserError("Use at most 1024 characters.", "password")
        with self.db.write() as s:
            row = s.get(SmtpConfig, 1)
            if row is None:
                row = SmtpConfig(id=1, password_encrypted="")
                s.add(row)
            row.host = host
            row.port = port_number
            row.security = security
            row.username = username
            row.from_address = from_address
            row.updated_at = clock.now()
            if password is not None:
                row.password_encrypted = (
                    crypto.encrypt(self.keys.secrets, password, _PASSWORD_IDENTITY)
                    if password
                    else ""
                )

    # -- sending -------------------------------------------------------------------------

    def render(self, template: str, context: dict[str, Any]) -> tuple[str, str, str]:
        """(subject, text, html) of an email template."""
        subject = self._templates.get_template(f"{template}.subject.txt").render(context).strip()
        text = self._templates.get_template(f"{template}.txt").render(context)
        html = self._templates.get_template(f"{template}.html").render(context)
        return subject, text, html

    def send_template(self, to: str, template: str, context: dict[str, Any]) -> str:
        subject, text, html = self.render(template, context)
        return self.send(to, subject, text, html)

    def send_to_each(
        self, people: Iterable[tuple[str, str]], template: str, context: dict[str, Any], about: str
    ) -> int:
        """Send ``template`` to each (email, name), the name added to ``context``. One address
        that fails is logged and does not keep the others waiting. Returns how many went."""
        sent = 0
        for address, name in people:
            try:
                self.send_template(address, template, {**context, "name": name})
                sent += 1
            except Exception:  # mail trouble must not stop the work that asked for it
                log.exception("could not email %s about %s", address, about)
        return sent

    def send(self, to: str, subject: str, text: str, html: str) -> str:
        """Send one email; returns "smtp" or "outbox". Raises MailError when SMTP fails."""
        if "@" not in to or any(c in to for c in "\r\n,;<>"):
            # One plain address only: anything else could add recipients or headers.
            raise UserError(f"{to[:100]!r} is not a single email address.", "to")
        smtp = self.smtp_settings()
        message = EmailMessage()
        message["From"] = smtp.from_address if smtp and smtp.from_address else self.default_from
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(clock.now().timestamp(), usegmt=True)
        message["Message-ID"] = make_msgid(domain="chatmina.local")
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        if smtp is None:
            self._write_outbox(message)
            return "outbox"
        _deliver(smtp, message)
        return "smtp"

    def _write_outbox(self, message: EmailMessage) -> None:
        self.outbox.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = clock.now().strftime("%Y%m%dT%H%M%S%f") + "-" + secrets.token_hex(4)
        sealed = crypto.encrypt(self.keys.secrets, message.as_string(), "outbox:" + name)
        tmp = self.outbox / (name + ".tmp")
        tmp.write_text(sealed)
        tmp.rename(self.outbox / (name + ".eml.enc"))
        log.info("email %s written to the outbox (no SMTP server configured)", name)

    # -- outbox --------------------------------------------------------------------------

    def outbox_messages(self, limit: int = 100) -> list[OutboxMessage]:
        if not self.outbox.is_dir():
            return []
        files = sorted(self.outbox.glob("*.eml.enc"), reverse=True)[:limit]
        return [self._read_outbox(path) for path in files]

    def outbox_message(self, message_id: str) -> OutboxMessage:
        path = self.outbox / (message_id + ".eml.enc")
        if "/" in message_id or not path.is_file():
            raise NotFound("No such message in the outbox.")
        return self._read_outbox(path)

    def _read_outbox(self, path: Path) -> OutboxMessage:
        name = path.name.removesuffix(".eml.enc")
        raw = crypto.decrypt(self.keys.secrets, path.read_text(), "outbox:" + name)
        parsed = BytesParser(policy=email.policy.default).parsebytes(raw.encode())
        text_part = parsed.get_body(("plain",))
        html_part = parsed.get_body(("html",))
        return OutboxMessage(
            id=name,
            to=str(parsed["To"]),
            subject=str(parsed["Subject"]),
            sent_at=str(parsed["Date"]),
            text=text_part.get_content() if text_part else "",
            html=html_part.get_content() if html_part else "",
        )


@contextmanager
def smtp_session(smtp: SmtpSettings, timeout: float) -> Iterator[smtplib.SMTP]:
    """A connection to the SMTP server, with TLS as configured and logged in.

    smtplib's own exceptions (and OSError) come through: sending mail and ``chatmina
    doctor`` explain them each in their own words.
    """
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if smtp.security == "tls":
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
    with client:
        client.ehlo()
        if smtp.security == "starttls":
            client.starttls(context=context)
        if smtp.username:
            client.login(smtp.username, smtp.password)
        yield client


def _deliver(smtp: SmtpSettings, message: EmailMessage) -> None:
    try:
        with smtp_session(smtp, SMTP_TIMEOUT) as client:
            client.send_message(message)
    except smtplib.SMTPAuthenticationError:
        raise MailError("The SMTP server rejected the user name or password.") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise MailError(f"The SMTP server does not support this: {exc}") from None
    except ssl.SSLCertVerificationError as exc:
        raise MailError(
            "TLS with the SMTP server failed: its certificate could not be verified "
            f"({exc.verify_message})."
        ) from None
    except ssl.SSLError as exc:
        raise MailError(f"TLS with the SMTP server failed: {exc.reason or exc}") from None
    except TimeoutError:
        raise MailError(
            f"The SMTP server {smtp.host}:{smtp.port} did not answer in time."
        ) from None
    except smtplib.SMTPException as exc:
        raise MailError(f"The SMTP server refused the message: {exc}") from None
    except OSError as exc:
        raise MailError(
            f"Could not connect to {smtp.host}:{smtp.port}: {exc.strerror or exc}"
        ) from None
