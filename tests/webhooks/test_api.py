"""/api/v1/webhook-endpoints with a workspace API key: the whole life of an endpoint, bad
input answered with problem+json naming the field (and nothing stored), and isolation."""

from __future__ import annotations

from typing import Any

import pytest
from standardwebhooks import Webhook

from chatmina.ui.context import Services
from chatmina.webhooks import service
from tests.accounts.helpers import assert_problem, bearer
from tests.conftest import Browser, Personas
from tests.fakes.webhook_receiver import WebhookReceiver

BASE = "/api/v1/webhook-endpoints"


@pytest.fixture
def api(client: Any, personas: Personas, services: Services, receiver: WebhookReceiver) -> Any:
    service.save_private_hosts(services.db, personas.a_id, receiver.address)
    client.headers.update(bearer(personas.a_key))
    return client


def _count(services: Services, workspace_id: int) -> int:
    return len(service.list_endpoints(services.db, workspace_id))


def test_create_list_read_update_rotate_delete(
    api: Any, services: Services, personas: Personas, receiver: WebhookReceiver
) -> None:
    created = api.post(BASE, json={"url": receiver.url(), "events": ["conversation.*"]})
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert endpoint["id"].startswith("we_") and endpoint["signing_secret"].startswith("whsec_")
    assert endpoint["events"] == ["conversation.*"] and endpoint["enabled"] is True
    Webhook(endpoint["signing_secret"])  # a secret the standard library accepts

    listed = api.get(BASE).json()
    assert [e["id"] for e in listed] == [endpoint["id"]]
    assert all("secret" not in e for e in listed)  # shown once, never again
    read = api.get(f"{BASE}/{endpoint['id']}")
    assert read.status_code == 200 and "secret" not in read.json()
    assert endpoint["signing_secret"] not in read.text

    patched = api.patch(
        f"{BASE}/{endpoint['id']}", json={"events": ["message.created"], "enabled": False}
    ).json()
    assert patched["events"] == ["message.created"] and patched["enabled"] is False
    assert patched["url"] == receiver.url()

    rotated = api.post(f"{BASE}/{endpoint['id']}/rotate-secret")
    assert rotated.status_code == 200
    assert rotated.json()["signing_secret"] != endpoint["signing_secret"]
    assert rotated.json()["previous_secret_expires_at"] is not None

    assert api.delete(f"{BASE}/{endpoint['id']}").status_code == 204
    assert_problem(api.get(f"{BASE}/{endpoint['id']}"), 404)
    assert _count(services, personas.a_id) == 0


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"url": "{receiver}", "events": ["order.paid"]}, "events", "not an event type"),
        ({"url": "{receiver}", "events": []}, "events", ""),
        ({"url": "{receiver}"}, "events", "events"),
        ({"url": "ftp://example.com/x", "events": ["*"]}, "url", "http"),
        ({"url": "http://169.254.169.254/latest", "events": ["*"]}, "url", "cloud metadata"),
        ({"url": "http://127.0.0.1:9/hooks", "events": ["*"]}, "url", "loopback"),
        ({"url": "http://localhost:9/hooks", "events": ["*"]}, "url", "loopback"),
        ({"url": "{receiver}", "events": ["*"], "secret": "mine"}, "secret", "unknown"),
        ({"url": "x" * 2001, "events": ["*"]}, "url", ""),
        ({"url": 5, "events": ["*"]}, "url", ""),
    ],
)
def test_bad_input_is_a_problem_naming_the_field_and_stores_nothing(
    api: Any,
    services: Services,
    personas: Personas,
    receiver: WebhookReceiver,
    body: dict[str, Any],
    field: str,
    words: str,
) -> None:
    sent = {k: (v.format(receiver=receiver.url()) if isinstance(v, str) else v)
            for k, v in body.items()}  # fmt: skip
    problem = assert_problem(api.post(BASE, json=sent), 400)
    assert [e["field"] for e in problem["errors"]] == [field], problem
    assert words.lower() in problem["detail"].lower()
    assert _count(services, personas.a_id) == 0


def test_a_bad_update_changes_nothing(api: Any, receiver: WebhookReceiver) -> None:
    endpoint = api.post(BASE, json={"url": receiver.url(), "events": ["*"]}).json()
    for change, field in (
        ({"url": "http://169.254.169.254/"}, "url"),
        ({"events": ["nope"]}, "events"),
        ({"enabled": "yes"}, "enabled"),
    ):
        problem = assert_problem(api.patch(f"{BASE}/{endpoint['id']}", json=change), 400)
        assert problem["errors"][0]["field"] == field
    after = api.get(f"{BASE}/{endpoint['id']}").json()
    assert after["url"] == receiver.url() and after["events"] == ["*"] and after["enabled"]


def test_without_a_key_or_with_another_workspaces_key_nothing_is_seen(
    api: Any, personas: Personas, receiver: WebhookReceiver, app: Any
) -> None:
    endpoint = api.post(BASE, json={"url": receiver.url(), "events": ["*"]}).json()
    # More clients without a lifespan of their own (the app runs one lifespan at a time).
    anonymous = Browser(app=app, base_url="http://testserver.local")
    assert_problem(anonymous.get(BASE), 401)
    assert_problem(anonymous.post(BASE, json={"url": receiver.url(), "events": ["*"]}), 401)
    charlie = Browser(app=app, base_url="http://testserver.local")
    charlie.headers.update(bearer(personas.b_key))
    assert charlie.get(BASE).json() == []
    path = f"{BASE}/{endpoint['id']}"
    assert_problem(charlie.get(path), 404)
    assert_problem(charlie.patch(path, json={"enabled": False}), 404)
    assert_problem(charlie.post(f"{path}/rotate-secret"), 404)
    assert_problem(charlie.delete(path), 404)
    # Charlie's workspace has no allowlist entry for the receiver: refused there.
    problem = assert_problem(charlie.post(BASE, json={"url": receiver.url(), "events": ["*"]}), 400)
    assert "loopback" in problem["detail"]
    assert api.get(path).json()["enabled"] is True  # A's endpoint untouched


def test_the_openapi_document_describes_the_webhook_endpoints(client: Any) -> None:
    schema = client.get("/schema/openapi.json").json()
    assert {BASE, f"{BASE}/{{endpoint_id}}", f"{BASE}/{{endpoint_id}}/rotate-secret"} <= set(
        schema["paths"]
    )
    assert schema["paths"][BASE]["post"]["security"] == [{"apiKey": []}]
