"""The Functions pages: create (secret shown once), edit, enable, rotate, delete, test, and
the call log with filters; bad input shows the message next to the field, stores nothing."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest

from chatmina import clock
from chatmina.functions import service
from chatmina.ui.context import Services
from tests.accounts.helpers import assert_not_500, field_error, page_text
from tests.conftest import Personas
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.functions.conftest import ORDER_SCHEMA, counts, logged_calls, make_function


def form(url: str, **changes: str) -> dict[str, str]:
    values = {
        "name": "order_status",
        "description": "Where an order is.",
        "parameters": json.dumps(ORDER_SCHEMA),
        "url": url,
        "method": "POST",
        "timeout_seconds": "5",
        "headers": "X-Api-Key: shop-key-123456",
        "enabled": "1",
    }
    values.update(changes)
    return values


@pytest.fixture
def alice(client: Any, personas: Personas) -> Any:
    client.login("alice@example.com")
    return client


def base(personas: Personas) -> str:
    return f"/w/{personas.a_slug}/functions"


def test_create_shows_the_secret_once_then_edit_disable_rotate_and_delete(
    alice: Any, services: Services, personas: Personas, receiver: WebhookReceiver
) -> None:
    assert "No functions yet" in alice.get(base(personas)).text
    assert alice.get(base(personas) + "/new").status_code == 200
    created = alice.submit(base(personas) + "/", form(receiver.url()))
    assert created.status_code == 201, created.text
    secret = re.search(r'value="(whsec_[^"]+)"', created.text)
    assert secret is not None and "shown only once" in page_text(created)
    (view,) = service.list_functions(services.db, services.keys, personas.a_id)
    detail_url = f"{base(personas)}/{view.id}"

    listing = alice.get(base(personas)).text
    detail = page_text(alice.get(detail_url))
    assert "order_status" in listing and secret.group(1) not in listing + detail
    assert "shop-key-123456" not in detail and "X-Api-Key (shop…56)" in detail

    saved = alice.submit(detail_url, form(receiver.url(), description="Order lookup.", headers=""))
    assert saved.status_code == 303
    view = service.get_function(services.db, services.keys, personas.a_id, view.id)
    assert view.description == "Order lookup." and view.headers == {"X-Api-Key": "shop…56"}
    alice.submit(detail_url, form(receiver.url(), headers="", clear_headers="1"))
    view = service.get_function(services.db, services.keys, personas.a_id, view.id)
    assert view.headers == {}

    assert alice.submit(detail_url + "/enabled", {"enabled": "0"}).status_code == 303
    assert not service.get_function(services.db, services.keys, personas.a_id, view.id).enabled

    rotated = alice.submit(detail_url + "/rotate")
    new_secret = re.search(r'value="(whsec_[^"]+)"', rotated.text)
    assert new_secret is not None and new_secret.group(1) != secret.group(1)
    assert "previous secret keeps signing" in page_text(rotated)

    assert alice.submit(detail_url + "/delete").status_code == 303
    assert counts(services) == (0, 0)
    assert alice.get(detail_url).status_code == 404


BAD_FORMS: list[tuple[str, dict[str, str], str, str]] = [
    ("bad name", {"name": "order status"}, "name", "letters, digits, _ or -"),
    ("schema not JSON", {"parameters": "{type: object"}, "parameters", "not valid JSON"),
    ("invalid schema", {"parameters": '{"type": "object", "required": "id"}'}, "parameters",
     "not a valid JSON Schema"),
    ("schema of a string", {"parameters": '{"type": "string"}'}, "parameters", "an object"),
    ("metadata URL", {"url": "http://169.254.169.254/latest/meta-data"}, "url", "not allowed"),
    ("private URL", {"url": "http://192.168.1.20/orders"}, "url", "not allowed"),
    ("private URL, where to allow it", {"url": "http://192.168.1.20/orders"}, "url",
     "(Webhooks page, Allowed private hosts)"),
    ("not a URL", {"url": "orders please"}, "url", "cannot be used"),
    ("method", {"method": "DELETE"}, "method", "POST, PUT, PATCH or GET"),
    ("timeout", {"timeout_seconds": "45"}, "timeout_seconds", "from 1 to 30"),
    ("timeout text", {"timeout_seconds": "soon"}, "timeout_seconds", "from 1 to 30"),
    ("header line", {"headers": "X-Api-Key abc"}, "headers", '"Name: value"'),
    ("header name", {"headers": "X Api: abc"}, "headers", "not a valid header name"),
    ("reserved header", {"headers": "Content-Type: text/plain"}, "headers", "set by Chatmina"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field", "message"), [pytest.param(c, f, m, id=n) for n, c, f, m in BAD_FORMS]
)
def test_a_bad_form_shows_the_error_at_its_field_and_stores_nothing(
    alice: Any,
    services: Services,
    personas: Personas,
    receiver: WebhookReceiver,
    change: dict[str, str],
    field: str,
    message: str,
) -> None:
    data = {**form(receiver.url()), **change}
    response = assert_not_500(alice.submit(base(personas) + "/", data))
    assert response.status_code == 400
    assert message in field_error(response, field), page_text(response)[-3000:]
    # What was typed is shown again (nothing to retype; a select shows its own options).
    if field != "method":
        assert change[field][:50] in page_text(response)
    assert counts(services) == (0, 0)


def test_a_duplicate_name_and_a_bad_edit_change_nothing(
    alice: Any, services: Services, personas: Personas, receiver: WebhookReceiver
) -> None:
    view, _ = make_function(services, personas.a_id, receiver.url())
    again = alice.submit(base(personas) + "/", form(receiver.url()))
    assert again.status_code == 409 and "already has a function" in field_error(again, "name")
    before = service.get_function(services.db, services.keys, personas.a_id, view.id)
    bad_url = {**form(receiver.url()), "url": "http://169.254.169.254/", "name": "x"}
    bad = alice.submit(f"{base(personas)}/{view.id}", bad_url)
    assert bad.status_code == 400 and "not allowed" in field_error(bad, "url")
    assert service.get_function(services.db, services.keys, personas.a_id, view.id) == before
    assert counts(services) == (1, 0)


def test_the_test_button_sends_a_signed_call_and_shows_the_answer_logged_as_a_test(
    alice: Any, services: Services, personas: Personas, receiver: WebhookReceiver
) -> None:
    view, secret = make_function(services, personas.a_id, receiver.url())
    receiver.secrets = [secret]
    detail = page_text(alice.get(f"{base(personas)}/{view.id}"))
    assert '"order_id": "example"' in detail  # the sample built from the schema
    wait = f"waits up to {view.timeout_seconds} seconds"
    assert wait in detail  # a slow receiver: the admin knows how long the page may take

    tested = alice.submit(
        f"{base(personas)}/{view.id}/test", {"arguments": '{"order_id": "12345"}'}
    )
    assert tested.status_code == 200, tested.text
    text = page_text(tested)
    assert "Answered 200 in" in text and "tomorrow" in text
    (arrival,) = receiver.arrivals
    assert arrival.verified and json.loads(arrival.body)["data"]["test"] is True
    (logged,) = logged_calls(services)
    assert logged.is_test and logged.ok and logged.conversation_id is None

    receiver.fail(500)
    failed = page_text(alice.submit(f"{base(personas)}/{view.id}/test",
                                    {"arguments": '{"order_id": "12345"}'}))  # fmt: skip
    assert "Answered 500" in failed and "answered 500" in failed


@pytest.mark.parametrize(
    ("arguments", "message"),
    [('{"order_id": "12"}', "does not match"), ("{oops", "not valid JSON"), ("[]", "JSON object")],
)
def test_test_arguments_off_schema_are_not_sent(
    alice: Any,
    services: Services,
    personas: Personas,
    receiver: WebhookReceiver,
    arguments: str,
    message: str,
) -> None:
    view, _ = make_function(services, personas.a_id, receiver.url())
    response = alice.submit(f"{base(personas)}/{view.id}/test", {"arguments": arguments})
    assert response.status_code == 400
    assert "The test was not sent" in field_error(response, "arguments")
    assert message in field_error(response, "arguments")
    assert arguments in page_text(response)  # kept in the box to fix
    assert receiver.arrivals == [] and counts(services) == (1, 0)


@pytest.mark.anyio
async def test_the_call_log_filters_by_result_status_date_and_text(
    services: Services, personas: Personas, receiver: WebhookReceiver, app: Any
) -> None:
    view, secret = make_function(services, personas.a_id, receiver.url())
    receiver.secrets = [secret]
    dispatcher: Any = services.answerer.dispatcher
    await dispatcher.test(personas.a_id, view.id, {"order_id": "11111"})
    receiver.fail(500)
    await dispatcher.test(personas.a_id, view.id, {"order_id": "22222"})
    clock.travel(dt.timedelta(days=3))
    await dispatcher.test(personas.a_id, view.id, {"order_id": "33333"})
    today = clock.now().date()

    from tests.conftest import Browser

    with Browser(app=app, base_url="http://testserver.local") as alice:
        alice.login("alice@example.com")
        url = f"{base(personas)}/{view.id}/calls"

        def shown(**params: str) -> list[str]:
            response = alice.get(url, params=params)
            assert response.status_code == 200, response.text
            return [n for n in ("11111", "22222", "33333") if n in page_text(response)]

        assert shown() == ["11111", "22222", "33333"]
        assert shown(outcome="failed") == ["22222"]
        assert shown(outcome="ok") == ["11111", "33333"]
        assert shown(status="500") == ["22222"]
        assert shown(q="33333") == ["33333"]
        assert shown(since=today.isoformat()) == ["33333"]
        assert shown(until=(today - dt.timedelta(days=1)).isoformat()) == ["11111", "22222"]
        bad = alice.get(url, params={"since": "yesterday"})
        assert bad.status_code == 400 and "YYYY-MM-DD" in field_error(bad, "since")
        bad = alice.get(url, params={"status": "abc"})
        assert bad.status_code == 400 and "HTTP status code" in field_error(bad, "status")


# -- who may see what -------------------------------------------------------------------

ROUTES = [
    ("get", ""),
    ("get", "/new"),
    ("post", "/"),
    ("get", "/{id}"),
    ("post", "/{id}"),
    ("post", "/{id}/enabled"),
    ("post", "/{id}/rotate"),
    ("post", "/{id}/test"),
    ("post", "/{id}/delete"),
    ("get", "/{id}/calls"),
]


def _try(client: Any, slug: str, method: str, path: str, fid: int, url: str) -> Any:
    target = f"/w/{slug}/functions" + path.format(id=fid)
    if method == "get":
        return assert_not_500(client.get(target))
    data = {**form(url, name="stolen"), "arguments": '{"order_id": "12345"}', "enabled": "0"}
    return assert_not_500(client.submit(target, data))


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_an_agent_is_refused_and_a_stranger_sees_nothing(
    client: Any,
    make_client: Any,
    services: Services,
    personas: Personas,
    receiver: WebhookReceiver,
    method: str,
    path: str,
) -> None:
    view, _ = make_function(services, personas.a_id, receiver.url())
    before = service.get_function(services.db, services.keys, personas.a_id, view.id)
    client.login("bob@example.com")
    assert _try(client, personas.a_slug, method, path, view.id, receiver.url()).status_code == 403
    charlie = make_client()
    charlie.login("charlie@example.com")
    response = _try(charlie, personas.a_slug, method, path, view.id, receiver.url())
    assert response.status_code == 404 and "order_status" not in response.text
    if "{id}" in path:  # A's function id through Charlie's own workspace
        response = _try(charlie, personas.b_slug, method, path, view.id, receiver.url())
        assert response.status_code == 404 and "order_status" not in response.text
    assert service.get_function(services.db, services.keys, personas.a_id, view.id) == before
    assert receiver.arrivals == [] and logged_calls(services) == []
    assert service.list_functions(services.db, services.keys, personas.b_id) == []


def test_the_nav_shows_functions_to_admins_only(client: Any, personas: Personas) -> None:
    client.login("bob@example.com")
    assert f"/w/{personas.a_slug}/functions" not in client.get(f"/w/{personas.a_slug}/").text
    client.login("alice@example.com")
    assert f"/w/{personas.a_slug}/functions" in client.get(f"/w/{personas.a_slug}/").text
