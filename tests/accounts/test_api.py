"""The accounts JSON API (/api/v1) with a workspace API key, its OpenAPI document and
the health check."""

from __future__ import annotations

from typing import Any

import pytest

from chatmina.accounts import service as accounts
from tests.accounts.helpers import assert_problem, bearer


@pytest.fixture
def api(client: Any, personas: Any) -> Any:
    """The test client with A's API key on every request."""
    client.headers.update(bearer(personas.a_key))
    return client


def test_the_workspace_endpoint_describes_the_keys_workspace(api: Any, personas: Any) -> None:
    response = api.get("/api/v1/workspace")
    assert response.status_code == 200
    body = response.json()
    assert body["slug"] == personas.a_slug
    assert body["name"] == "Acme Support"
    assert body["public_id"].startswith("wk_")
    assert set(body) == {"slug", "public_id", "name", "created_at"}


def test_the_members_endpoint_lists_the_workspaces_members_and_roles(api: Any) -> None:
    response = api.get("/api/v1/members")
    assert response.status_code == 200
    members = {m["email"]: m["role"] for m in response.json()}
    assert members == {"alice@example.com": "owner", "bob@example.com": "agent"}
    assert all("password" not in key for m in response.json() for key in m)


@pytest.mark.parametrize("role", ["agent", "admin"])
def test_an_invitation_created_by_the_api_is_listed_and_shown_on_the_members_page(
    api: Any, services: Any, personas: Any, role: str
) -> None:
    response = api.post("/api/v1/invitations", json={"email": "Erin@Example.com", "role": role})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["email"] == "erin@example.com"
    assert created["role"] == role
    assert created["email_sent_via"] == "outbox"
    assert "token" not in created

    listed = api.get("/api/v1/invitations").json()
    assert [(i["id"], i["email"], i["role"]) for i in listed] == [
        (created["id"], "erin@example.com", role)
    ]
    (message,) = services.mailer.outbox_messages()
    assert message.to == "erin@example.com"
    assert "/invite?token=" in message.text

    api.headers.pop("authorization")
    api.login("alice@example.com")
    page = api.get(f"/w/{personas.a_slug}/members")
    assert "erin@example.com" in page.text
    assert f"/invitations/{created['id']}/revoke" in page.text


def test_the_role_defaults_to_agent(api: Any) -> None:
    response = api.post("/api/v1/invitations", json={"email": "erin@example.com"})
    assert response.status_code == 201
    assert response.json()["role"] == "agent"


def test_deleting_an_invitation_withdraws_it(api: Any, services: Any, personas: Any) -> None:
    created = api.post("/api/v1/invitations", json={"email": "erin@example.com"}).json()
    (message,) = services.mailer.outbox_messages()
    token = message.text.split("/invite?token=", 1)[1].split()[0]

    response = api.delete(f"/api/v1/invitations/{created['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert api.get("/api/v1/invitations").json() == []
    # The link in the email stops working, and a second delete finds nothing.
    assert "withdrawn" in api.get(f"/invite?token={token}").text
    assert_problem(api.delete(f"/api/v1/invitations/{created['id']}"), 404)


def test_an_api_key_cannot_invite_an_owner(api: Any, services: Any, personas: Any) -> None:
    response = api.post("/api/v1/invitations", json={"email": "erin@example.com", "role": "owner"})
    problem = assert_problem(response, response.status_code)
    assert response.status_code in (400, 403)
    assert "role" in [e["field"] for e in problem["errors"]]
    assert accounts.list_invitations(services.db, personas.a_id) == []


def test_inviting_an_existing_member_is_a_conflict(api: Any) -> None:
    response = api.post("/api/v1/invitations", json={"email": "bob@example.com"})
    problem = assert_problem(response, 409)
    assert problem["type"] == "/api/docs#problem-conflict"
    assert problem["errors"] == [
        {"field": "email", "message": "This person is already a member of the workspace."}
    ]


def test_inviting_again_replaces_the_pending_invitation(api: Any) -> None:
    first = api.post("/api/v1/invitations", json={"email": "erin@example.com"}).json()
    second = api.post(
        "/api/v1/invitations", json={"email": "erin@example.com", "role": "admin"}
    ).json()
    listed = api.get("/api/v1/invitations").json()
    assert [(i["id"], i["role"]) for i in listed] == [(second["id"], "admin")]
    assert first["id"] != second["id"]


def test_the_openapi_document_lists_the_api_and_not_the_html_pages(client: Any) -> None:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    paths = set(schema["paths"])
    assert {
        "/api/v1/workspace",
        "/api/v1/members",
        "/api/v1/invitations",
        "/api/v1/invitations/{invitation_id}",
        "/v1/models",
        "/v1/chat/completions",
    } <= paths
    # The public widget API is documented too (tests/conversations/test_api.py).
    assert all(path.startswith(("/api/v1/", "/v1/", "/api/widget/v1/")) for path in paths), paths
    assert schema["paths"]["/api/v1/invitations"]["post"]["security"] == [{"apiKey": []}]
    assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"


def test_the_api_reference_page_renders_the_operations(client: Any, personas: Any) -> None:
    client.login("alice@example.com")
    page = client.get("/api/docs")
    assert page.status_code == 200
    for path in ("/api/v1/workspace", "/api/v1/members", "/api/v1/invitations"):
        assert path in page.text


def test_the_health_check_answers_ok_without_a_login(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"]
