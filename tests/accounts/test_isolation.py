"""Who may do what: every workspace route tried by a stranger, an agent, an admin and the
owner, and every API route without a valid key. A refused request must change nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from chatmina.accounts import service as accounts
from tests.accounts.helpers import (
    add_member,
    assert_not_500,
    assert_problem,
    bearer,
    pending_invitation,
    snapshot,
)


@dataclass
class Ids:
    """A's objects a route may name: members, a pending invitation, an API key."""

    alice: int
    bob: int
    invitation: int
    api_key: int


@pytest.fixture
def ids(services: Any, personas: Any) -> Ids:
    invitation_id, _ = pending_invitation(services, personas.a_id, "erin@example.com")
    (key,) = accounts.list_api_keys(services.db, personas.a_id)
    return Ids(personas.alice_id, personas.bob_id, invitation_id, key.id)


PAGES = ["/", "/knowledge", "/conversations", "/functions", "/members", "/settings"]

# name: (path under /w/<slug>, form data, the owner's status). The path may name A's ids.
ACTIONS: dict[str, tuple[str, dict[str, str], int]] = {
    "invite": ("/members/invite", {"email": "mallory@example.com", "role": "agent"}, 303),
    "change_role": ("/members/{bob}/role", {"role": "admin"}, 303),
    "remove_member": ("/members/{bob}/remove", {}, 303),
    "revoke_invitation": ("/invitations/{invitation}/revoke", {}, 303),
    "save_settings": ("/settings", {"name": "Taken Over"}, 303),
    "create_api_key": ("/api-keys", {"key_name": "stolen"}, 201),
    "revoke_api_key": ("/api-keys/{api_key}/revoke", {}, 303),
    "delete_workspace": ("/delete", {"confirm": "{slug}"}, 303),
}
# Actions whose path names one of A's objects, tried by Charlie inside his own workspace B.
ACTIONS_ON_IDS = [name for name, (path, _, _) in ACTIONS.items() if "{" in path]


def _action(name: str, slug: str, ids: Ids) -> tuple[str, dict[str, str]]:
    path, data, _ = ACTIONS[name]
    fill = {**vars(ids), "slug": slug}
    return f"/w/{slug}" + path.format(**fill), {k: v.format(**fill) for k, v in data.items()}


# -- a stranger (Charlie, owner of B) ----------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_a_stranger_gets_404_for_every_page_of_another_workspace(
    client: Any, personas: Any, path: str
) -> None:
    client.login("charlie@example.com")
    response = assert_not_500(client.get(f"/w/{personas.a_slug}{path}"))
    assert response.status_code == 404
    assert "Acme Support" not in response.text


@pytest.mark.parametrize("action", list(ACTIONS))
def test_a_stranger_gets_404_for_every_action_on_another_workspace_and_nothing_changes(
    client: Any, services: Any, personas: Any, ids: Ids, action: str
) -> None:
    before = snapshot(services, personas.a_id)
    client.login("charlie@example.com")
    url, data = _action(action, personas.a_slug, ids)
    response = assert_not_500(client.submit(url, data))
    assert response.status_code == 404
    assert "Acme Support" not in response.text
    assert snapshot(services, personas.a_id) == before


@pytest.mark.parametrize("action", ACTIONS_ON_IDS)
def test_a_stranger_cannot_reach_another_workspaces_objects_through_their_own_workspace(
    client: Any, services: Any, personas: Any, ids: Ids, action: str
) -> None:
    before_a, before_b = snapshot(services, personas.a_id), snapshot(services, personas.b_id)
    client.login("charlie@example.com")
    url, data = _action(action, personas.b_slug, ids)
    response = assert_not_500(client.submit(url, data))
    assert response.status_code == 404
    assert snapshot(services, personas.a_id) == before_a
    assert snapshot(services, personas.b_id) == before_b


def test_a_strangers_api_key_cannot_withdraw_another_workspaces_invitation(
    client: Any, services: Any, personas: Any, ids: Ids
) -> None:
    before = snapshot(services, personas.a_id)
    response = client.delete(
        f"/api/v1/invitations/{ids.invitation}", headers=bearer(personas.b_key)
    )
    assert_problem(response, 404)
    assert snapshot(services, personas.a_id) == before
    assert ids.invitation in [i.id for i in accounts.list_invitations(services.db, personas.a_id)]


@pytest.mark.parametrize("path", ["/api/v1/members", "/api/v1/invitations", "/api/v1/workspace"])
def test_a_strangers_api_key_never_lists_another_workspaces_data(
    client: Any, personas: Any, ids: Ids, path: str
) -> None:
    response = client.get(path, headers=bearer(personas.b_key))
    assert response.status_code == 200
    for secret in ("alice@example.com", "bob@example.com", "erin@example.com", "Acme Support"):
        assert secret not in response.text
    if path == "/api/v1/members":
        assert [m["email"] for m in response.json()] == ["charlie@example.com"]


# -- an agent (Bob in A) and the owner (Alice) -------------------------------------------

AGENT_REFUSED = [*ACTIONS, "settings_page"]


@pytest.mark.parametrize("action", AGENT_REFUSED)
def test_an_agent_gets_403_for_owner_and_admin_actions_and_nothing_changes(
    client: Any, services: Any, personas: Any, ids: Ids, action: str
) -> None:
    before = snapshot(services, personas.a_id)
    client.login("bob@example.com")
    if action == "settings_page":
        response = client.get(f"/w/{personas.a_slug}/settings")
    else:
        response = client.submit(*_action(action, personas.a_slug, ids))
    assert assert_not_500(response).status_code == 403
    assert snapshot(services, personas.a_id) == before


# Settings and Functions need MANAGE_SETTINGS / MANAGE_FUNCTIONS, which agents lack.
@pytest.mark.parametrize("path", [p for p in PAGES if p not in ("/settings", "/functions")])
def test_an_agent_can_open_the_workspace_pages_for_their_role(
    client: Any, personas: Any, path: str
) -> None:
    client.login("bob@example.com")
    assert client.get(f"/w/{personas.a_slug}{path}").status_code == 200


@pytest.mark.parametrize("action", list(ACTIONS))
def test_the_owner_can_do_every_action_the_others_are_refused(
    client: Any, services: Any, personas: Any, ids: Ids, action: str
) -> None:
    before = snapshot(services, personas.a_id)
    client.login("alice@example.com")
    response = assert_not_500(client.submit(*_action(action, personas.a_slug, ids)))
    assert response.status_code == ACTIONS[action][2], response.text
    assert snapshot(services, personas.a_id) != before


# -- an admin --------------------------------------------------------------------------


@pytest.fixture
def admin(client: Any, services: Any, personas: Any) -> Any:
    add_member(services, personas.a_id, "dana@example.com", "admin")
    client.login("dana@example.com")
    return client


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/members/{bob}/role", {"role": "owner"}),
        ("/members/{alice}/role", {"role": "agent"}),
        ("/members/{alice}/role", {"role": "admin"}),
        ("/members/{alice}/remove", {}),
        ("/members/invite", {"email": "olga@example.com", "role": "owner"}),
        ("/delete", {"confirm": "{slug}"}),
    ],
    ids=[
        "promote_to_owner",
        "demote_owner",
        "owner_to_admin",
        "remove_owner",
        "invite_owner",
        "delete_workspace",
    ],
)
def test_an_admin_cannot_make_demote_or_remove_owners_nor_delete_the_workspace(
    admin: Any, services: Any, personas: Any, ids: Ids, path: str, data: dict[str, str]
) -> None:
    before = snapshot(services, personas.a_id)
    fill = {**vars(ids), "slug": personas.a_slug}
    url = f"/w/{personas.a_slug}" + path.format(**fill)
    response = assert_not_500(admin.submit(url, {k: v.format(**fill) for k, v in data.items()}))
    assert response.status_code == 403
    assert snapshot(services, personas.a_id) == before


def test_an_admin_can_invite_agents(admin: Any, services: Any, personas: Any) -> None:
    url = f"/w/{personas.a_slug}/members/invite"
    response = admin.submit(url, {"email": "olga@example.com", "role": "agent"})
    assert response.status_code == 303
    invited = [(i.email, i.role) for i in accounts.list_invitations(services.db, personas.a_id)]
    assert ("olga@example.com", "agent") in invited


@pytest.mark.parametrize("path", ["/members/{alice}/role", "/members/{alice}/remove"])
def test_the_last_owner_cannot_demote_or_remove_themselves(
    client: Any, services: Any, personas: Any, ids: Ids, path: str
) -> None:
    before = snapshot(services, personas.a_id)
    client.login("alice@example.com")
    url = f"/w/{personas.a_slug}" + path.format(**vars(ids))
    response = client.submit(url, {"role": "agent"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/w/{personas.a_slug}/members"
    assert "at least one owner" in client.get(response.headers["location"]).text
    assert snapshot(services, personas.a_id) == before


# -- not logged in, no CSRF token --------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_every_workspace_page_sends_a_visitor_to_the_login_page_and_back(
    client: Any, personas: Any, path: str
) -> None:
    response = client.get(f"/w/{personas.a_slug}{path}", follow_redirects=False)
    assert response.status_code == 303
    # Litestar drops a trailing slash from the path; /w/<slug> and /w/<slug>/ are one page.
    expected = f"/login?next=/w/{personas.a_slug}{path}".rstrip("/")
    assert response.headers["location"] == expected


NO_TOKEN_POSTS = [
    *ACTIONS,
    "/account/profile",
    "/account/password",
    "/workspaces/new",
    "/account/logout-everywhere",
    "/logout",
]


@pytest.mark.parametrize("logged_in", [True, False], ids=["logged_in", "visitor"])
@pytest.mark.parametrize("action", NO_TOKEN_POSTS)
def test_a_post_without_the_csrf_token_is_refused_and_writes_nothing(
    client: Any, services: Any, personas: Any, ids: Ids, action: str, logged_in: bool
) -> None:
    if logged_in:
        client.login("alice@example.com")
    sessions = len(accounts.list_sessions(services.db, personas.alice_id))
    before = snapshot(services, personas.a_id)
    if action in ACTIONS:
        url, data = _action(action, personas.a_slug, ids)
    else:
        url, data = action, {"name": "Mallory", "current_password": "x", "new_password": "y"}
    response = assert_not_500(client.post(url, data=data, follow_redirects=False))
    assert response.status_code == 403
    assert snapshot(services, personas.a_id) == before
    assert len(accounts.list_sessions(services.db, personas.alice_id)) == sessions
    assert len(accounts.workspaces_of(services.db, personas.alice_id)) == 1


API_ROUTES = [
    ("GET", "/api/v1/workspace"),
    ("GET", "/api/v1/members"),
    ("GET", "/api/v1/invitations"),
    ("POST", "/api/v1/invitations"),
    ("DELETE", "/api/v1/invitations/{invitation}"),
]


@pytest.mark.parametrize(
    "key", ["none", "revoked", "garbage", "not_bearer"], ids=lambda k: f"key_{k}"
)
@pytest.mark.parametrize(("method", "path"), API_ROUTES)
def test_the_api_answers_401_problem_without_a_valid_key(
    client: Any, services: Any, personas: Any, ids: Ids, method: str, path: str, key: str
) -> None:
    headers = {
        "none": {},
        "revoked": bearer(personas.a_key),
        "garbage": bearer("cm_" + "x" * 40),
        "not_bearer": {"authorization": f"Basic {personas.a_key}"},
    }[key]
    if key == "revoked":
        accounts.revoke_api_key(services.db, personas.a_id, ids.api_key)
    before = snapshot(services, personas.a_id)
    response = client.request(
        method,
        path.format(**vars(ids)),
        headers=headers,
        json={"email": "m@example.com"} if method == "POST" else None,
    )
    body = assert_problem(response, 401)
    assert body["type"] == "/api/docs#problem-unauthorized"
    assert snapshot(services, personas.a_id) == before


@pytest.mark.parametrize("path", ["/instance/email", "/instance/outbox"])
@pytest.mark.parametrize("email", ["charlie@example.com", "bob@example.com"])
def test_instance_pages_are_only_for_instance_admins(
    client: Any, personas: Any, path: str, email: str
) -> None:
    client.login(email)
    assert client.get(path).status_code == 403
    if path == "/instance/email":
        response = client.submit(path, {"host": "evil.example.com", "port": "25"})
        assert response.status_code == 403
        assert client.app.state.services.mailer.smtp_settings() is None
