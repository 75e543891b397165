"""A visitor who asks for a person while nobody has the inbox open: the team is emailed,
through a real SMTP server, at most once every ten minutes, never with the messages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from chatmina import clock
from chatmina.conversations.models import Conversation
from chatmina.conversations.notify import COOLDOWN
from chatmina.ui.context import Services
from tests.conftest import Personas
from tests.conversations.conftest import Sites, api, bearer, new_visitor, say
from tests.conversations.test_api import configure_widget
from tests.mail.conftest import SmtpServer, configured_smtp

SECRET_WORDS = "my card ends in 4242 and my address is 12 Elm Street"


@pytest.fixture
def smtp(services: Services) -> Iterator[SmtpServer]:
    with configured_smtp(services) as server:
        yield server


def ask_for_a_person(client: Any, services: Services, public_id: str) -> Any:
    services.handoff_mail.last_sent = None
    token = new_visitor(client, public_id)
    say(client, public_id, token, SECRET_WORDS)
    response = client.post(api(public_id, "/handoff"), json={}, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["conversation"]["state"] == "waiting"
    return services.handoff_mail.last_sent


def test_nobody_watching_the_inbox_emails_the_team_with_a_link_and_no_messages(
    client: Any, services: Services, personas: Personas, sites: Sites, smtp: SmtpServer
) -> None:
    sent = ask_for_a_person(client, services, sites.a)
    assert sent is not None and sent.result(10) == 2
    recipients = sorted(r.message["To"] for r in smtp.received)
    assert recipients == ["alice@example.com", "bob@example.com"]  # A's team, not Charlie
    message = smtp.received[0].message
    assert message["Subject"] == "A visitor is waiting for a person in Acme Support"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    link = f"http://127.0.0.1:8000/w/{personas.a_slug}/inbox?view=waiting"
    assert link in text and link in html
    assert "4242" not in message.as_string() and "Elm Street" not in message.as_string()


def test_a_burst_of_handoffs_sends_one_email_per_ten_minutes(
    client: Any, services: Services, personas: Personas, sites: Sites, smtp: SmtpServer
) -> None:
    first = ask_for_a_person(client, services, sites.a)
    assert first is not None and first.result(10) == 2
    for _ in range(3):
        assert ask_for_a_person(client, services, sites.a) is None
    assert len(smtp.received) == 2
    clock.travel(COOLDOWN + dt.timedelta(seconds=1))
    later = ask_for_a_person(client, services, sites.a)
    assert later is not None and later.result(10) == 2
    assert smtp.received[-1].message["Subject"] == (
        "5 visitors are waiting for a person in Acme Support"
    )


def test_no_email_while_someone_has_the_inbox_open(
    client: Any, services: Services, personas: Personas, sites: Sites, smtp: SmtpServer
) -> None:
    watching = services.live.broker.inboxes.add(personas.a_id)  # as an open inbox stream does
    try:
        assert ask_for_a_person(client, services, sites.a) is None
    finally:
        services.live.broker.inboxes.remove(personas.a_id, watching)
    assert smtp.received == []
    sent = ask_for_a_person(client, services, sites.a)  # the inbox was closed again
    assert sent is not None and sent.result(10) == 2


def test_the_email_can_be_turned_off_on_the_widget_page(
    client: Any, services: Services, personas: Personas, sites: Sites, smtp: SmtpServer
) -> None:
    configure_widget(services, personas.a_id, notify_by_email="")
    assert ask_for_a_person(client, services, sites.a) is None
    assert smtp.received == []


def test_a_mail_server_that_is_down_loses_no_handoff(
    client: Any, services: Services, personas: Personas, sites: Sites, caplog: Any
) -> None:
    with configured_smtp(services):
        pass  # configured, then stopped: nothing listens on its port any more
    sent = ask_for_a_person(client, services, sites.a)
    assert sent is not None and sent.result(10) == 0
    assert "could not email alice@example.com about a waiting visitor" in caplog.text
    with services.db.read() as s:
        states = s.scalars(
            select(Conversation.state).where(Conversation.workspace_id == personas.a_id)
        ).all()
    assert states == ["waiting"]
