"""An endpoint failing for 3 days is disabled and its workspace's owners are emailed (through
a real SMTP server); secret rotation keeps the old secret valid for 24 hours only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chatmina.ui.context import Services
from chatmina.webhooks import service
from chatmina.webhooks.jobs import DeliveryWorker
from tests.conftest import Personas
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.mail.conftest import SmtpServer, configured_smtp
from tests.webhooks.conftest import Hooked, emit, travel

pytestmark = pytest.mark.anyio


@pytest.fixture
def smtp(services: Services) -> Iterator[SmtpServer]:
    with configured_smtp(services) as server:
        yield server


async def test_three_days_of_failures_disable_the_endpoint_and_email_the_owners(
    services: Services,
    personas: Personas,
    hooked: Hooked,
    worker: DeliveryWorker,
    smtp: SmtpServer,
) -> None:
    hooked.receiver.down()
    for _ in range(6):  # an event every 12 hours, each one failing
        emit(services, personas.a_id, "message.created")
        await worker.tick()
        travel(hours=12)
    endpoint = service.get_endpoint(services.db, personas.a_id, hooked.endpoint.public_id)
    assert endpoint.enabled and endpoint.failing_since is not None  # 2.5 days so far
    assert smtp.received == []

    emit(services, personas.a_id, "message.created")
    await worker.tick()
    endpoint = service.get_endpoint(services.db, personas.a_id, hooked.endpoint.public_id)
    assert not endpoint.enabled
    assert "every delivery failed since" in str(endpoint.disabled_reason)
    [mail] = smtp.received  # Alice is A's only owner; Bob (agent) and Charlie get nothing
    assert mail.message["To"] == "alice@example.com"
    assert "Acme Support" in mail.message["Subject"]
    text = mail.message.get_body(("plain",)).get_content()
    assert hooked.receiver.url() in text and "/w/acme-support/webhooks" in text

    # Disabled: nothing more is sent, even once the receiver is back, until switched on.
    hooked.receiver.up()
    travel(days=2)
    assert await worker.tick() == 0
    service.update_endpoint(
        services.db,
        services.settings,
        personas.a_id,
        endpoint.public_id,
        service.EndpointInput(endpoint.url, endpoint.events, enabled=True),
    )
    assert await worker.tick() > 0
    assert len(hooked.receiver.processed) == 7  # every queued event arrives in the end
    again = service.get_endpoint(services.db, personas.a_id, endpoint.public_id)
    assert again.enabled and again.failing_since is None and again.disabled_reason is None


async def test_a_success_ends_the_failure_streak(
    services: Services, personas: Personas, hooked: Hooked, worker: DeliveryWorker
) -> None:
    hooked.receiver.fail(500, times=1)
    emit(services, personas.a_id, "message.created")
    await worker.tick()
    assert service.get_endpoint(services.db, personas.a_id, hooked.endpoint.public_id).failing_since
    travel(seconds=10)
    await worker.tick()
    endpoint = service.get_endpoint(services.db, personas.a_id, hooked.endpoint.public_id)
    assert endpoint.failing_since is None and endpoint.enabled


async def test_after_rotation_old_and_new_secret_verify_for_24_hours_then_only_the_new(
    services: Services, personas: Personas, hooked: Hooked, worker: DeliveryWorker
) -> None:
    old = hooked.secret
    _, new = service.rotate_secret(
        services.db, services.keys, personas.a_id, hooked.endpoint.public_id
    )
    assert new != old and new.startswith("whsec_")
    with WebhookReceiver(old) as old_only, WebhookReceiver(new) as new_only:
        hosts = f"{old_only.address}\n{new_only.address}"
        service.save_private_hosts(services.db, personas.a_id, hosts)
        for listener in (old_only, new_only):
            service.update_endpoint(
                services.db,
                services.settings,
                personas.a_id,
                hooked.endpoint.public_id,
                service.EndpointInput(listener.url(), ["message.created"]),
            )
            emit(services, personas.a_id, "message.created", holder="both")
            assert await worker.tick() == 1
        travel(hours=23)
        emit(services, personas.a_id, "message.created", holder="still both")
        assert await worker.tick() == 1  # to new_only, which the endpoint points at now
        travel(hours=1, seconds=1)
        service.update_endpoint(
            services.db,
            services.settings,
            personas.a_id,
            hooked.endpoint.public_id,
            service.EndpointInput(old_only.url(), ["message.created"]),
        )
        emit(services, personas.a_id, "message.created", holder="new only")
        assert await worker.tick() == 1

    assert [p["data"]["holder"] for p in old_only.processed.values()] == ["both"]
    assert [p["data"]["holder"] for p in new_only.processed.values()] == ["both", "still both"]
    assert old_only.rejected == ["No matching signature found"]  # after 24 h: old is gone
