"""The Webhooks pages: add (secret shown once), edit, rotate, delete, the private-host
allowlist, the delivery log with filters and redelivery of dead letters; bad input shows the
message next to the field and stores nothing; Bob (agent) and Charlie (owner of B) get in
nowhere."""

from __future__ import annotations

import re
from typing import Any

import pytest

from chatmina.ui.context import Services
from chatmina.webhooks import deliveries, queue, service
from chatmina.webhooks.jobs import DeliveryWorker
from tests.accounts.helpers import assert_not_500, field_error, page_text
from tests.conftest import Browser, Personas
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.webhooks.conftest import emit, travel


@pytest.fixture
def alice(client: Any, personas: Personas, services: Services, receiver: WebhookReceiver) -> Any:
    service.save_private_hosts(services.db, personas.a_id, receiver.address)
    client.login("alice@example.com")
    return client


def _base(personas: Personas) -> str:
    return f"/w/{personas.a_slug}/webhooks"


def _endpoints(services: Services, workspace_id: int) -> list[Any]:
    return service.list_endpoints(services.db, workspace_id)


def test_add_shows_the_secret_once_then_edit_rotate_and_delete(
    alice: Any, services: Services, personas: Personas, receiver: WebhookReceiver
) -> None:
    assert "No endpoints yet" in alice.get(_base(personas)).text
    created = alice.submit(
        _base(personas) + "/",
        {"url": receiver.url(), "events": ["conversation.*", "message.created"], "enabled": "1"},
    )
    assert created.status_code == 201, created.text
    secret = re.search(r'value="(whsec_[^"]+)"', created.text)
    assert secret is not None and "shown only once" in page_text(created)
    [endpoint] = _endpoints(services, personas.a_id)
    assert endpoint.events == ["conversation.*", "message.created"] and endpoint.enabled
    detail_url = f"{_base(personas)}/{endpoint.public_id}"
    assert secret.group(1) not in alice.get(_base(personas)).text
    assert secret.group(1) not in alice.get(detail_url).text

    saved = alice.submit(detail_url, {"url": receiver.url(), "events": "feedback.submitted"})
    assert saved.status_code == 303
    [endpoint] = _endpoints(services, personas.a_id)
    assert endpoint.events == ["feedback.submitted"] and not endpoint.enabled

    rotated = alice.submit(detail_url + "/rotate")
    new_secret = re.search(r'value="(whsec_[^"]+)"', rotated.text)
    assert new_secret is not None and new_secret.group(1) != secret.group(1)
    assert "keeps signing too until" in page_text(rotated)

    assert alice.submit(detail_url + "/delete").status_code == 303
    assert _endpoints(services, personas.a_id) == []


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"events": "order.paid"}, "events", "not an event type"),
        ({"events": []}, "events", "at least one"),
        ({"url": ""}, "url", "Enter the URL"),
        ({"url": "ftp://files.example.com/"}, "url", "http"),
        ({"url": "http://169.254.169.254/latest"}, "url", "cloud metadata"),
        ({"url": "http://127.0.0.1:9/other"}, "url", "allowlist"),
        ({"description": "d" * 501}, "description", "500"),
    ],
)
def test_bad_input_is_shown_next_to_the_field_and_nothing_is_stored(
    alice: Any,
    services: Services,
    personas: Personas,
    receiver: WebhookReceiver,
    changes: dict[str, Any],
    field: str,
    words: str,
) -> None:
    form = {"url": receiver.url(), "events": ["message.created"], "enabled": "1", **changes}
    response = assert_not_500(alice.submit(_base(personas) + "/", form))
    assert response.status_code == 400
    assert words in field_error(response, field) or words in page_text(response), response.text
    assert _endpoints(services, personas.a_id) == []
    if "url" not in changes:  # what was typed comes back in the form
        assert f'value="{receiver.url()}"' in response.text


def test_the_allowlist_is_saved_and_a_bad_entry_is_refused(
    alice: Any, services: Services, personas: Personas
) -> None:
    url = _base(personas) + "/allowlist"
    assert alice.submit(url, {"allowed_private_hosts": "crm.lan\n10.0.0.5:8080"}).status_code == 303
    assert service.private_hosts(services.db, personas.a_id) == "10.0.0.5:8080\ncrm.lan"
    refused = alice.submit(url, {"allowed_private_hosts": "crm.lan\nhttp://bad/"})
    assert refused.status_code == 400
    assert "is not a host or host:port entry" in field_error(refused, "allowed_private_hosts")
    assert service.private_hosts(services.db, personas.a_id) == "10.0.0.5:8080\ncrm.lan"
    assert "crm.lan" in alice.get(_base(personas)).text
    # The allowlist is the workspace's own: B still refuses A's private host.
    with pytest.raises(Exception, match="allowlist"):
        service.create_endpoint(
            services.db,
            services.keys,
            services.settings,
            personas.b_id,
            service.EndpointInput("http://10.0.0.5:8080/x", ["*"]),
        )


@pytest.mark.anyio
async def test_the_delivery_log_filters_searches_and_redelivers_a_dead_letter(
    alice: Any, services: Services, personas: Personas, receiver: WebhookReceiver
) -> None:
    endpoint, secret = service.create_endpoint(
        services.db, services.keys, services.settings, personas.a_id,
        service.EndpointInput(receiver.url(), ["*"]),
    )  # fmt: skip
    receiver.secrets.append(secret)
    worker = DeliveryWorker(services.db, services.keys, services.settings, services.mailer)
    try:
        emit(services, personas.a_id, "feedback.submitted", rating="thumbs-up")
        await worker.tick()
        receiver.fail(500, times=queue.MAX_ATTEMPTS)
        emit(services, personas.a_id, "message.created", text="where is my parcel")
        for delay in [*queue.RETRY_DELAYS, None]:
            await worker.tick()
            if delay is not None:
                travel(seconds=delay.total_seconds() * 1.25)
        alice.login("alice@example.com")  # a day and a half later: the session expired
        base = _base(personas) + "/deliveries"
        everything = page_text(alice.get(base))
        assert "feedback.submitted" in everything and "message.created" in everything
        dead = page_text(alice.get(base, params={"state": "dead"}))
        assert "message.created" in dead and "feedback.submitted" not in dead
        found = page_text(alice.get(base, params={"q": "parcel"}))
        assert "message.created" in found and "feedback.submitted" not in found
        [row] = deliveries.list_deliveries(services.db, personas.a_id, state="dead").rows
        msg_id = row.delivery.msg_id
        detail = page_text(alice.get(f"{base}/{msg_id}"))
        assert "the receiver answered HTTP 500" in detail and "Redeliver" in detail
        assert alice.submit(f"{base}/{msg_id}/redeliver").status_code == 303
        await worker.tick()
        assert msg_id in receiver.processed
        assert "Delivered" in page_text(alice.get(base, params={"endpoint": endpoint.public_id}))
    finally:
        await worker.aclose()


def _routes(slug: str, endpoint_id: str, msg_id: str) -> list[tuple[str, str]]:
    base = f"/w/{slug}/webhooks"
    return [
        ("GET", base),
        ("POST", base + "/"),
        ("POST", base + "/allowlist"),
        ("GET", base + "/deliveries"),
        ("GET", f"{base}/deliveries/{msg_id}"),
        ("POST", f"{base}/deliveries/{msg_id}/redeliver"),
        ("GET", f"{base}/{endpoint_id}"),
        ("POST", f"{base}/{endpoint_id}"),
        ("POST", f"{base}/{endpoint_id}/rotate"),
        ("POST", f"{base}/{endpoint_id}/delete"),
    ]


def _try(client: Browser, method: str, path: str, url: str) -> Any:
    if method == "GET":
        return client.get(path, follow_redirects=False)
    return client.submit(path, {"url": url, "events": "*", "allowed_private_hosts": "x.lan"})


def test_bob_the_agent_and_charlie_of_b_reach_nothing(
    client: Any, app: Any, services: Services, personas: Personas, receiver: WebhookReceiver
) -> None:
    service.save_private_hosts(services.db, personas.a_id, receiver.address)
    endpoint, _ = service.create_endpoint(
        services.db, services.keys, services.settings, personas.a_id,
        service.EndpointInput(receiver.url(), ["*"]),
    )  # fmt: skip
    emit(services, personas.a_id, "message.created")
    [row] = deliveries.list_deliveries(services.db, personas.a_id).rows
    routes = _routes(personas.a_slug, endpoint.public_id, row.delivery.msg_id)

    client.login("bob@example.com")
    for method, path in routes:
        assert _try(client, method, path, receiver.url()).status_code == 403, (method, path)

    charlie = Browser(app=app, base_url="http://testserver.local")
    charlie.login("charlie@example.com")
    for method, path in routes:
        assert _try(charlie, method, path, receiver.url()).status_code == 404, (method, path)
    # Through Charlie's own workspace, A's endpoint and delivery do not exist either.
    for method, path in _routes(personas.b_slug, endpoint.public_id, row.delivery.msg_id)[4:]:
        assert _try(charlie, method, path, receiver.url()).status_code == 404, (method, path)
    assert "message.created" not in charlie.get(f"/w/{personas.b_slug}/webhooks/deliveries").text

    # Nothing changed in A.
    [still] = _endpoints(services, personas.a_id)
    assert still.url == receiver.url() and still.events == ["*"]
    assert still.previous_secret_encrypted is None
    assert service.private_hosts(services.db, personas.a_id) == receiver.address
    assert (
        deliveries.list_deliveries(services.db, personas.a_id).rows[0].delivery.state == "pending"
    )
