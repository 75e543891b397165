"""GET functions (arguments as a signed query string), the call log over the API, and
function secrets surviving a master-key rotation."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from chatmina import clock
from chatmina.app import build_services
from chatmina.assistant.tools import CallContext, Tool
from chatmina.functions import calls, service
from chatmina.storage import rekey
from chatmina.storage.keys import load_keys
from chatmina.ui.context import Services
from tests.accounts.helpers import assert_problem, bearer
from tests.conftest import Personas
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.functions.conftest import make_function
from tests.ops.helpers import file_keyed_settings


@dataclass
class Seen:
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def plain_receiver() -> Iterator[tuple[str, Seen]]:
    """An endpoint that records the request line too (a GET's arguments are in it)."""
    seen = Seen()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            seen.requests.append((self.command, self.path, headers, body))
            reply = b'{"in_stock": 3}'
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/stock?shop=main", seen
    server.shutdown()
    server.server_close()


@pytest.mark.anyio
async def test_a_get_function_sends_the_arguments_as_a_signed_query_string(
    services: Services, personas: Personas, plain_receiver: tuple[str, Seen]
) -> None:
    url, seen = plain_receiver
    schema = {
        "type": "object",
        "properties": {"sku": {"type": "string"}, "sizes": {"type": "array"}},
    }
    _, secret = make_function(
        services, personas.a_id, url, name="stock", method="GET", parameters=schema
    )
    outcome = await services.answerer.dispatcher.call(
        Tool("stock", "", schema),
        {"sku": "A 1&2", "sizes": [40, 41]},
        CallContext(personas.a_id, None, "call_get", False),
    )
    assert outcome.ok and outcome.content == '{"in_stock": 3}'
    ((method, path, headers, body),) = seen.requests
    query = urlsplit(path).query
    assert method == "GET" and body == b"" and urlsplit(path).path == "/stock"
    assert parse_qs(query) == {"shop": ["main"], "sku": ["A 1&2"], "sizes": ["[40,41]"]}
    # The signature covers the whole query string, as the receiver got it.
    signed = query
    Webhook(secret).verify(signed, headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):  # a changed argument does not verify
        Webhook(secret).verify(signed.replace("A+1", "B+1"), headers, json_parse=False)
    assert headers["x-api-key"] == "shop-key-123456"


@pytest.mark.anyio
async def test_the_call_log_over_the_api_with_filters(
    client: Any, services: Services, personas: Personas, receiver: WebhookReceiver
) -> None:
    view, secret = make_function(services, personas.a_id, receiver.url())
    receiver.secrets = [secret]
    dispatcher: Any = services.answerer.dispatcher
    await dispatcher.test(personas.a_id, view.id, {"order_id": "11111"})
    receiver.fail(503)
    await dispatcher.test(personas.a_id, view.id, {"order_id": "22222"})

    url = f"/api/v1/functions/{view.id}/calls"
    every = client.get(url, headers=bearer(personas.a_key)).json()
    assert [c["arguments"]["order_id"] for c in every] == ["22222", "11111"]
    assert every[0]["status"] == 503 and every[0]["error"] == "answered 503"
    assert every[1]["ok"] and every[1]["test"] and every[1]["webhook_id"].startswith("msg_")
    failed = client.get(url, params={"outcome": "failed"}, headers=bearer(personas.a_key))
    assert [c["status"] for c in failed.json()] == [503]
    found = client.get(url, params={"q": "11111"}, headers=bearer(personas.a_key)).json()
    assert [c["arguments"]["order_id"] for c in found] == ["11111"]
    bad = client.get(url, params={"since": "last week"}, headers=bearer(personas.a_key))
    assert "YYYY-MM-DD" in assert_problem(bad, 400)["detail"]
    assert_problem(client.get(url, headers=bearer(personas.b_key)), 404)


def test_function_secrets_headers_and_logs_survive_a_master_key_rotation(
    tmp_path: Path, template_db: Path
) -> None:
    settings = file_keyed_settings(tmp_path, template_db)
    data_dir = settings.data_path
    services = build_services(settings)
    from chatmina.accounts import service as accounts

    _, workspace = accounts.create_owner(
        services.db,
        services.passwords,
        email="alice@example.com",
        name="Alice",
        password="correct horse battery",
        workspace_name="Acme Support",
    )
    view, _ = make_function(services, workspace.id, "http://127.0.0.1:9/orders")
    _, secret = service.rotate_secret(services.db, services.keys, workspace.id, view.id)
    before = service.load_specs(services.db, services.keys, workspace.id)["order_status"]
    calls.record(
        services.db,
        services.keys,
        [
            calls.CallRecord(
                workspace.id, view.id, None, "msg_rotation", "call_1", 1, True, True, 200,
                3.5, "", {"order_id": "12345"}, '{"status": "shipped"}', clock.now(),
            )
        ],
    )  # fmt: skip
    services.db.close()

    rekey.rotate_master_key(settings)

    from chatmina.storage.db import Database

    new = load_keys(settings, create=False)
    db = Database.open(data_dir, new)
    try:
        after = service.load_specs(db, new, workspace.id)["order_status"]
        assert after.secret == secret == before.secret
        assert after.previous_secret == before.previous_secret != ""
        assert after.headers == {"X-Api-Key": "shop-key-123456"}
        (logged,) = calls.list_calls(db, new, workspace.id, view.id, calls.CallFilter())
        assert '"12345"' in logged.arguments and "shipped" in logged.response
    finally:
        db.close()
