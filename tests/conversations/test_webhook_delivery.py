"""The conversations feature's events reach a business's endpoint through the queue: what a
visitor does in the widget arrives signed at a real receiver (standardwebhooks verifies)."""

from __future__ import annotations

from typing import Any

import pytest

from chatmina.conversations import routing
from chatmina.ui.context import Services
from chatmina.webhooks.jobs import DeliveryWorker
from tests.conftest import Personas
from tests.conversations.conftest import (
    Sites,
    answered,
    api,
    bearer,
    new_visitor,
    say,
)
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.webhooks.conftest import add_endpoint

pytestmark = pytest.mark.anyio

SUBSCRIBED = ["conversation.*", "message.created", "handoff.requested", "feedback.submitted"]


async def test_a_widget_conversation_is_delivered_event_by_event(
    client: Any,
    services: Services,
    personas: Personas,
    sites: Sites,
    help_center: Any,
) -> None:
    with WebhookReceiver() as receiver, WebhookReceiver() as b_receiver:
        add_endpoint(services, personas.a_id, receiver, SUBSCRIBED)
        add_endpoint(services, personas.b_id, b_receiver, SUBSCRIBED)
        _converse(client, services, personas, sites)
        worker = DeliveryWorker(
            services.db,
            services.keys,
            services.settings.replace(webhook_timeout_seconds=2),
            services.mailer,
        )
        try:
            while await worker.tick():
                pass
        finally:
            await worker.aclose()

    assert receiver.arrivals and all(arrival.verified for arrival in receiver.arrivals)
    kinds = [payload["type"] for payload in receiver.processed.values()]
    assert kinds.count("conversation.created") == 1
    assert kinds.count("message.created") == 3  # the question, the answer, Bob's reply
    assert {"feedback.submitted", "handoff.requested", "conversation.assigned"} <= set(kinds)
    assert "conversation.resolved" in kinds
    assert b_receiver.arrivals == []  # workspace B's endpoint hears nothing of A


def _converse(client: Any, services: Services, personas: Personas, sites: Sites) -> None:
    token = new_visitor(client, sites.a)
    conversation = say(client, sites.a, token, "How do refunds work?").json()["conversation"]
    answered(services, personas.a_id, 1)
    answer = client.get(api(sites.a, "/conversation"), headers=bearer(token)).json()
    answer_id = answer["messages"][1]["id"]
    feedback = client.post(
        api(sites.a, f"/messages/{answer_id}/feedback"),
        json={"rating": "up"},
        headers=bearer(token),
    )
    assert feedback.status_code == 200, feedback.text
    client.post(api(sites.a, "/handoff"), json={}, headers=bearer(token))
    routing.reply(services.db, personas.a_id, conversation["id"], personas.bob_id, "Bob here.")
    routing.resolve(services.db, personas.a_id, conversation["id"], personas.bob_id)
