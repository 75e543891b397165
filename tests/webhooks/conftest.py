"""Webhook fixtures: Alice's workspace A with an endpoint on a real local receiver, and a
delivery worker whose ticks the tests run themselves (travelling the clock between them)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from chatmina import clock
from chatmina.events import Event
from chatmina.ui.context import Services
from chatmina.webhooks import service
from chatmina.webhooks.jobs import DeliveryWorker
from chatmina.webhooks.models import WebhookEndpoint
from tests.conftest import Personas
from tests.fakes.webhook_receiver import WebhookReceiver


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Hooked:
    endpoint: WebhookEndpoint
    secret: str
    receiver: WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def add_endpoint(
    services: Services, workspace_id: int, receiver: WebhookReceiver, events: list[str]
) -> tuple[WebhookEndpoint, str]:
    service.save_private_hosts(services.db, workspace_id, receiver.address)
    endpoint, secret = service.create_endpoint(
        services.db,
        services.keys,
        services.settings,
        workspace_id,
        service.EndpointInput(receiver.url(), events),
    )
    receiver.secrets.append(secret)
    return endpoint, secret


@pytest.fixture
def hooked(services: Services, personas: Personas, receiver: WebhookReceiver) -> Hooked:
    endpoint, secret = add_endpoint(services, personas.a_id, receiver, ["message.created"])
    return Hooked(endpoint, secret, receiver)


@pytest.fixture
async def worker(services: Services) -> AsyncIterator[DeliveryWorker]:
    running = DeliveryWorker(
        services.db,
        services.keys,
        services.settings.replace(webhook_timeout_seconds=1),
        services.mailer,
    )
    yield running
    await running.aclose()


def emit(services: Services, workspace_id: int, event_type: str, **data: Any) -> None:
    with services.db.write() as session:
        services.events.emit(session, Event(event_type, workspace_id, data, clock.now()))


def travel(**delta: float) -> None:
    clock.travel(dt.timedelta(**delta))
