"""/api/v1/functions with a workspace API key: create (secret once), read, list, update,
delete, rotate; every bad input a clear problem+json naming the field, nothing stored."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from chatmina import clock
from chatmina.functions.models import AiFunction
from chatmina.functions.service import load_specs
from chatmina.webhooks.signing import signature_headers
from tests.accounts.helpers import assert_problem, bearer
from tests.conftest import Personas

# The receiver module makes standardwebhooks read the time from chatmina.clock, so a
# signature made after travelling a day is not "too new" for the verifier.
from tests.fakes import webhook_receiver  # noqa: F401
from tests.functions.conftest import counts, definition

URL = "http://127.0.0.1:8099/chatmina/orders"  # 127.0.0.1 is allowed in these tests


@pytest.fixture
def api(client: Any, personas: Personas) -> Any:
    client.headers.update(bearer(personas.a_key))
    return client


def test_create_read_list_update_delete_a_function(api: Any, services: Any) -> None:
    created = api.post("/api/v1/functions", json=definition(URL))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["signing_secret"].startswith("whsec_")
    assert body["name"] == "order_status" and body["method"] == "POST"
    assert body["headers"] == {"X-Api-Key": "shop…56"}  # masked
    fid = body["id"]

    got = api.get(f"/api/v1/functions/{fid}").json()
    assert "signing_secret" not in got and got["parameters"]["required"] == ["order_id"]
    assert [f["name"] for f in api.get("/api/v1/functions").json()] == ["order_status"]

    patched = api.patch(f"/api/v1/functions/{fid}", json={"timeout_seconds": 12, "enabled": False})
    assert patched.status_code == 200, patched.text
    assert patched.json()["timeout_seconds"] == 12 and patched.json()["enabled"] is False
    assert patched.json()["headers"] == {"X-Api-Key": "shop…56"}  # kept when not sent

    replaced = api.put(
        f"/api/v1/functions/{fid}", json=definition(URL, name="order_lookup", headers={})
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["name"] == "order_lookup" and replaced.json()["headers"] == {}

    assert api.delete(f"/api/v1/functions/{fid}").status_code == 204
    assert_problem(api.get(f"/api/v1/functions/{fid}"), 404)
    assert counts(services) == (0, 0)


def test_the_signing_secret_is_shown_once_and_stored_encrypted(
    api: Any, services: Any, personas: Personas
) -> None:
    body = api.post("/api/v1/functions", json=definition(URL)).json()
    secret = body["signing_secret"]
    assert secret not in api.get(f"/api/v1/functions/{body['id']}").text
    assert secret not in api.get("/api/v1/functions").text
    # The raw row holds ciphertext only: neither the secret nor the header value.
    with services.db.engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT secret_encrypted, headers_encrypted FROM ai_functions"
        ).one()
    assert row[0].startswith("v1:") and secret not in row[0]
    assert row[1].startswith("v1:") and "shop-key-123456" not in row[1]
    spec = load_specs(services.db, services.keys, personas.a_id)["order_status"]
    assert spec.secret == secret and spec.headers == {"X-Api-Key": "shop-key-123456"}


def _verifies(secret: str, signed_with: list[str]) -> bool:
    body = b'{"type":"function.call"}'
    now = clock.now()
    headers = signature_headers(signed_with, "msg_rotation", int(now.timestamp()), body)
    try:
        Webhook(secret).verify(body, headers)
    except Exception:
        return False
    return True


def test_rotation_keeps_the_old_secret_signing_for_24_hours(
    api: Any, services: Any, personas: Personas
) -> None:
    body = api.post("/api/v1/functions", json=definition(URL)).json()
    old = body["signing_secret"]
    rotated = api.post(f"/api/v1/functions/{body['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text  # as for webhook endpoints
    new = rotated.json()["signing_secret"]
    assert new.startswith("whsec_") and new != old
    expires = dt.datetime.fromisoformat(rotated.json()["previous_secret_expires_at"])
    assert dt.timedelta(hours=23, minutes=59) < expires - clock.now() <= dt.timedelta(hours=24)

    spec = load_specs(services.db, services.keys, personas.a_id)["order_status"]
    signing = spec.signing_secrets(clock.now())
    assert signing == [new, old]
    assert _verifies(new, signing) and _verifies(old, signing)

    clock.travel(dt.timedelta(hours=24, minutes=1))
    spec = load_specs(services.db, services.keys, personas.a_id)["order_status"]
    signing = spec.signing_secrets(clock.now())
    assert signing == [new]
    assert _verifies(new, signing) and not _verifies(old, signing)
    assert api.get(f"/api/v1/functions/{body['id']}").json()["previous_secret_expires_at"] is None


LONG_SCHEMA = {"type": "object", "description": "x" * 40_000}

BAD_INPUT: list[tuple[str, dict[str, Any], str, str]] = [
    ("bad name", {"name": "order status!"}, "name", "letters, digits, _ or -"),
    ("long name", {"name": "x" * 65}, "name", "1 to 64"),
    ("no description", {"description": "  "}, "description", "Describe what the function"),
    ("schema not an object type", {"parameters": {"type": "string"}}, "parameters", "object"),
    ("invalid schema", {"parameters": {"type": "object", "properties": 5}}, "parameters",
     "not a valid JSON Schema"),
    ("invalid schema type", {"parameters": {"type": "objekt"}}, "parameters",
     "not a valid JSON Schema"),
    ("remote $ref", {"parameters": {"type": "object", "properties": {
        "a": {"$ref": "https://evil.example/schema.json"}}}}, "parameters", "own definitions"),
    ("missing $defs", {"parameters": {"type": "object", "properties": {
        "a": {"$ref": "#/$defs/address"}}}}, "parameters", "does not define"),
    ("bad regex", {"parameters": {"type": "object", "properties": {
        "a": {"type": "string", "pattern": "("}}}}, "parameters", "not a 'regex'"),
    ("huge schema", {"parameters": LONG_SCHEMA}, "parameters", "larger than 32 KB"),
    ("no url", {"url": ""}, "url", "Enter the URL"),
    ("ftp url", {"url": "ftp://127.0.0.1/x"}, "url", "cannot be used"),
    ("metadata address", {"url": "http://169.254.169.254/latest"}, "url", "not allowed"),
    ("private address", {"url": "http://10.0.0.5/orders"}, "url", "not allowed"),
    ("timeout zero", {"timeout_seconds": 0}, "timeout_seconds", "from 1 to 30"),
    ("timeout too long", {"timeout_seconds": 31}, "timeout_seconds", "from 1 to 30"),
    ("bad header name", {"headers": {"X Api": "1"}}, "headers", "not a valid header name"),
    ("reserved header", {"headers": {"Webhook-Signature": "v1,x"}}, "headers", "set by Chatmina"),
    ("header with newline", {"headers": {"X-Key": "a\r\nInjected: 1"}}, "headers", "one line"),
    ("empty header value", {"headers": {"X-Key": " "}}, "headers", "1 to 4,000"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [pytest.param(c, f, m, id=name) for name, c, f, m in BAD_INPUT],
)
def test_bad_input_is_refused_with_a_clear_error_and_nothing_is_stored(
    api: Any, services: Any, change: dict[str, Any], field: str, message: str
) -> None:
    response = api.post("/api/v1/functions", json={**definition(URL), **change})
    problem = assert_problem(response, 400)
    assert problem["errors"][0]["field"] == field
    assert message in problem["detail"], problem["detail"]
    assert counts(services) == (0, 0)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({**definition(URL), "method": "DELETE"}, "method"),
        ({**definition(URL), "timeout_seconds": "soon"}, "timeout_seconds"),
        ({**definition(URL), "parameters": [1]}, "parameters"),
        ({**definition(URL), "colour": "red"}, "colour"),
        ({k: v for k, v in definition(URL).items() if k != "url"}, "url"),
    ],
)
def test_wrong_types_are_problems_naming_the_field(
    api: Any, services: Any, body: dict[str, Any], named: str
) -> None:
    problem = assert_problem(api.post("/api/v1/functions", json=body), 400)
    assert named in problem["detail"]
    assert counts(services) == (0, 0)


def test_a_duplicate_name_is_a_conflict_and_an_update_cannot_take_a_used_name(
    api: Any, services: Any
) -> None:
    api.post("/api/v1/functions", json=definition(URL))
    problem = assert_problem(api.post("/api/v1/functions", json=definition(URL)), 409)
    assert problem["errors"][0]["field"] == "name" and "already has" in problem["detail"]
    other = api.post("/api/v1/functions", json=definition(URL, name="refund")).json()
    assert_problem(
        api.patch(f"/api/v1/functions/{other['id']}", json={"name": "order_status"}), 409
    )
    assert api.get(f"/api/v1/functions/{other['id']}").json()["name"] == "refund"
    assert counts(services) == (2, 0)


def test_a_bad_update_changes_nothing(api: Any, services: Any) -> None:
    fid = api.post("/api/v1/functions", json=definition(URL)).json()["id"]
    with services.db.read() as s:
        before = s.scalars(select(AiFunction)).one()
        before_values = (before.url, before.timeout_seconds, before.headers_encrypted)
    assert_problem(
        api.patch(f"/api/v1/functions/{fid}", json={"url": "http://169.254.169.254/"}), 400
    )
    assert_problem(
        api.patch(f"/api/v1/functions/{fid}", json={"timeout_seconds": 99, "headers": {}}), 400
    )
    with services.db.read() as s:
        after = s.scalars(select(AiFunction)).one()
        assert (after.url, after.timeout_seconds, after.headers_encrypted) == before_values


def test_another_workspaces_key_sees_and_changes_nothing(
    api: Any, client: Any, services: Any, personas: Personas
) -> None:
    fid = api.post("/api/v1/functions", json=definition(URL)).json()["id"]
    charlie = bearer(personas.b_key)
    assert client.get("/api/v1/functions", headers=charlie).json() == []
    assert_problem(client.get(f"/api/v1/functions/{fid}", headers=charlie), 404)
    assert_problem(client.patch(f"/api/v1/functions/{fid}", json={"enabled": False},
                                headers=charlie), 404)  # fmt: skip
    assert_problem(client.put(f"/api/v1/functions/{fid}", json=definition(URL),
                              headers=charlie), 404)  # fmt: skip
    assert_problem(client.delete(f"/api/v1/functions/{fid}", headers=charlie), 404)
    assert_problem(client.post(f"/api/v1/functions/{fid}/rotate-secret", headers=charlie), 404)
    assert_problem(client.get(f"/api/v1/functions/{fid}/calls", headers=charlie), 404)
    # Charlie's own function of the same name is his, not a conflict with Alice's.
    assert (
        client.post("/api/v1/functions", json=definition(URL), headers=charlie).status_code == 201
    )
    alice = api.get(f"/api/v1/functions/{fid}").json()
    assert alice["enabled"] is True and alice["headers"] == {"X-Api-Key": "shop…56"}
    assert counts(services) == (2, 0)


def test_without_a_key_nothing_is_reachable(client: Any, services: Any) -> None:
    assert_problem(client.get("/api/v1/functions"), 401)
    assert_problem(client.post("/api/v1/functions", json=definition(URL)), 401)
    assert counts(services) == (0, 0)


def test_the_functions_api_is_in_the_openapi_document(client: Any) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/functions"])
    assert {"get", "put", "patch", "delete"} <= set(paths["/api/v1/functions/{function_id}"])
    assert "post" in paths["/api/v1/functions/{function_id}/rotate-secret"]


def test_a_schema_with_its_own_definitions_and_anchors_is_accepted(api: Any) -> None:
    schema = {
        "type": "object",
        "$defs": {
            "address": {"type": "object", "properties": {"city": {"type": "string"}}},
            "when": {"$anchor": "day", "type": "string", "format": "date"},
        },
        "properties": {
            "ship_to": {"$ref": "#/$defs/address"},
            "on": {"$ref": "#day"},
            "again": {"$ref": "#"},
        },
    }
    created = api.post("/api/v1/functions", json=definition(URL, parameters=schema))
    assert created.status_code == 201, created.text
