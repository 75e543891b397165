"""Bad input on every accounts form and on the API: missing, oversized and repeated fields get
a clear 400 that names the field, and nothing is written. Never a 500 anywhere here."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from chatmina.accounts import service as accounts
from chatmina.accounts.tokens import InvalidToken
from tests.accounts.helpers import (
    FORM,
    assert_not_500,
    assert_problem,
    bearer,
    page_text,
    pending_invitation,
    post_pairs,
    snapshot,
)
from tests.conftest import PASSWORD


@pytest.fixture(autouse=True)
def _never_500(client: Any) -> Iterator[None]:
    """Every response in this file, asked for by any test, is checked."""
    client.event_hooks["response"].append(assert_not_500)
    yield


@dataclass
class Form:
    """A form as a browser would post it, and a probe of everything it could write."""

    url: str
    fields: dict[str, str]
    state: Callable[[], Any]


def _setup_form(services: Any, client: Any, request: Any) -> Form:
    fields = {
        "token": services.setup_token,
        "name": "Olga",
        "email": "olga@example.com",
        "workspace": "Olga Ltd",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }
    return Form("/setup", fields, lambda: (accounts.has_users(services.db), services.setup_token))


def _form(url: str, fields: dict[str, str], login: str = "alice@example.com") -> Any:
    """A form of the personas' world; ``{reset}`` and ``{invite}`` become fresh link tokens."""

    def make(services: Any, client: Any, request: Any) -> Form:
        personas = request.getfixturevalue("personas")
        if login:
            client.login(login)
        links: dict[str, str] = {}
        if "{reset}" in fields.values():
            found = accounts.request_password_reset(services.db, services.keys, "alice@example.com")
            links["reset"] = found[1] if found else ""
        if "{invite}" in fields.values():
            links["invite"] = pending_invitation(services, personas.a_id, "dave@example.com")[1]
        fill = {**vars(personas), **links, "bob": personas.bob_id}
        return Form(
            url.format(**fill),
            {k: v.format(**fill) for k, v in fields.items()},
            lambda: _world(services, personas, links),
        )

    return make


def _world(services: Any, personas: Any, links: dict[str, str]) -> tuple[Any, ...]:
    """Everything the forms below could write, compared before and after a refused post."""
    db = services.db
    members = accounts.list_members(db, personas.a_id)
    return (
        snapshot(services, personas.a_id),
        next((m.name for m in members if m.user_id == personas.alice_id), None),
        [s.id for s in accounts.list_sessions(db, personas.alice_id)],
        accounts.authenticate(db, services.passwords, "alice@example.com", PASSWORD) is not None,
        len(services.mailer.outbox_messages()),
        _links_unused(services, links),
    )


def _links_unused(services: Any, links: dict[str, str]) -> list[bool]:
    """Single-use links that a refused form must not have spent."""
    unused = []
    checks = {"reset": accounts.check_reset_token, "invite": accounts.find_invitation}
    for kind, check in checks.items():
        if kind in links:
            try:
                unused.append(bool(check(services.db, services.keys, links[kind])))
            except InvalidToken:
                unused.append(False)
    return unused


NEW = {"password": PASSWORD + "!", "password_confirm": PASSWORD + "!"}
FORMS: dict[str, Any] = {
    "setup": _setup_form,
    "login": _form("/login", {"email": "alice@example.com", "password": PASSWORD}, login=""),
    "forgot_password": _form("/forgot-password", {"email": "alice@example.com"}, login=""),
    "reset_password": _form("/reset-password", {"token": "{reset}", **NEW}, login=""),
    "accept_invitation": _form("/invite", {"token": "{invite}", "name": "Dave", **NEW}, login=""),
    "profile": _form("/account/profile", {"name": "Alice A."}),
    "password": _form(
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": PASSWORD + "!",
            "new_password_confirm": PASSWORD + "!",
        },
    ),
    "settings": _form("/w/{a_slug}/settings", {"name": "Acme Two"}),
    "api_key": _form("/w/{a_slug}/api-keys", {"key_name": "CRM"}),
    "invite": _form("/w/{a_slug}/members/invite", {"email": "erin@example.com", "role": "agent"}),
    "change_role": _form("/w/{a_slug}/members/{bob}/role", {"role": "admin"}),
    "delete_workspace": _form("/w/{a_slug}/delete", {"confirm": "{a_slug}"}),
}

MISSING, TWICE = object(), object()
TOO_SHORT = "Use at least 10 characters."
ONCE = "Send this field once."
BAD_EMAIL = "Enter a valid email address, like name@example.com."
BAD_ROLE = "Choose owner, admin or agent."


def _at_most(n: int) -> str:
    return f"Use at most {n:,} characters."


# (form, field, value, the message the page shows)
CASES: list[tuple[str, str, Any, str]] = [
    ("setup", "name", MISSING, "Enter a name."),
    ("setup", "name", "x" * 101, _at_most(100)),
    ("setup", "name", "x" * 10_001, _at_most(10_000)),
    ("setup", "email", "not-an-email", BAD_EMAIL),
    ("setup", "email", TWICE, ONCE),
    ("setup", "workspace", MISSING, "Enter a workspace name."),
    ("setup", "password", MISSING, "The two passwords do not match."),
    ("setup", "password", "short", TOO_SHORT),
    ("setup", "password", "x" * 1001, _at_most(1000)),
    ("setup", "password_confirm", "something else", "The two passwords do not match."),
    ("login", "email", "x" * 255, _at_most(254)),
    ("login", "email", TWICE, ONCE),
    ("login", "password", MISSING, "The email or password is not correct."),
    ("login", "password", "x" * 1001, _at_most(1000)),
    ("forgot_password", "email", MISSING, "Enter an email address."),
    ("forgot_password", "email", "not-an-email", BAD_EMAIL),
    ("forgot_password", "email", "x" * 301, _at_most(300)),
    ("forgot_password", "email", TWICE, ONCE),
    ("reset_password", "password", MISSING, "The two passwords do not match."),
    ("reset_password", "password", "x" * 513, _at_most(512)),
    ("reset_password", "password", "x" * 1001, _at_most(1000)),
    ("reset_password", "password", TWICE, ONCE),
    ("reset_password", "password_confirm", "something else", "The two passwords do not match."),
    ("accept_invitation", "name", MISSING, "Enter a name."),
    ("accept_invitation", "name", "x" * 10_001, _at_most(10_000)),
    ("accept_invitation", "password", "short", TOO_SHORT),
    ("accept_invitation", "password", TWICE, ONCE),
    ("profile", "name", MISSING, "Enter a name."),
    ("profile", "name", "x" * 101, _at_most(100)),
    ("profile", "name", "x" * 10_001, _at_most(10_000)),
    ("profile", "name", "Al\x01ice", "Remove the control characters."),
    ("profile", "name", TWICE, ONCE),
    ("password", "current_password", "wrong password", "The current password is not correct."),
    ("password", "current_password", TWICE, ONCE),
    ("password", "new_password", "short", TOO_SHORT),
    ("password", "new_password", "x" * 1001, _at_most(1000)),
    ("password", "new_password_confirm", "something else", "The two passwords do not match."),
    ("settings", "name", MISSING, "Enter a workspace name."),
    ("settings", "name", "x" * 101, _at_most(100)),
    ("settings", "name", "x" * 10_001, _at_most(10_000)),
    ("settings", "name", TWICE, ONCE),
    ("api_key", "key_name", MISSING, "Enter a name for the key."),
    ("api_key", "key_name", "x" * 10_001, _at_most(10_000)),
    ("api_key", "key_name", TWICE, ONCE),
    ("invite", "email", MISSING, "Enter an email address."),
    ("invite", "email", "not-an-email", BAD_EMAIL),
    ("invite", "email", "x" * 301, _at_most(300)),
    ("invite", "email", TWICE, ONCE),
    ("invite", "role", "superuser", BAD_ROLE),
    ("change_role", "role", "superuser", BAD_ROLE),
    ("change_role", "role", MISSING, BAD_ROLE),
    ("change_role", "role", TWICE, ONCE),
    ("delete_workspace", "confirm", "acme", "Type acme-support to confirm."),
    ("delete_workspace", "confirm", MISSING, "Type acme-support to confirm."),
    ("delete_workspace", "confirm", "x" * 101, _at_most(100)),
    ("delete_workspace", "confirm", TWICE, ONCE),
]


def _case_id(case: tuple[str, str, Any, str]) -> str:
    form, field, value, _ = case
    kind = {id(MISSING): "missing", id(TWICE): "twice"}.get(id(value))
    return f"{form}-{field}-{kind or ('len' + str(len(value)) if len(value) > 20 else value)}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_a_bad_form_field_gets_a_400_with_its_message_and_writes_nothing(
    client: Any, services: Any, request: Any, case: tuple[str, str, Any, str]
) -> None:
    name, field, value, message = case
    form: Form = FORMS[name](services, client, request)
    before = form.state()
    pairs = [(k, v) for k, v in form.fields.items() if k != field]
    if value is TWICE:
        pairs += [(field, form.fields[field]), (field, form.fields[field])]
    elif value is not MISSING:
        pairs.append((field, value))
        if field.endswith("password") and f"{field}_confirm" in form.fields:
            # Confirmed the same, so the check under test is the one that answers.
            pairs = [(k, v) for k, v in pairs if k != f"{field}_confirm"]
            pairs.append((f"{field}_confirm", value))
    response = post_pairs(client, form.url, pairs)
    assert response.status_code == 400, response.text
    assert message in page_text(response)
    assert "chatmina_session" not in response.headers.get("set-cookie", "")
    assert form.state() == before


@pytest.mark.parametrize("name", list(FORMS))
def test_the_same_forms_filled_in_correctly_are_accepted(
    client: Any, services: Any, request: Any, name: str
) -> None:
    """The table above only means something if each form works with good input."""
    form: Form = FORMS[name](services, client, request)
    before = form.state()
    response = post_pairs(client, form.url, list(form.fields.items()))
    assert response.status_code in (201, 303), response.text
    assert form.state() != before


@pytest.mark.parametrize(
    "url",
    ["/w/{slug}/members/{n}/role", "/w/{slug}/members/{n}/remove", "/w/{slug}/api-keys/{n}/revoke"],
)
def test_an_id_too_large_for_the_database_is_invalid_input(
    client: Any, services: Any, personas: Any, url: str
) -> None:
    client.login("alice@example.com")
    before = snapshot(services, personas.a_id)
    response = client.submit(url.format(slug=personas.a_slug, n=10**30), {"role": "agent"})
    assert response.status_code == 400
    assert snapshot(services, personas.a_id) == before


# -- the API -----------------------------------------------------------------------------

API_CASES = [
    ("missing_email", b"{}", "email"),
    ("email_as_number", json.dumps({"email": 5}).encode(), "email"),
    ("email_of_300_chars", json.dumps({"email": "a" * 288 + "@example.com"}).encode(), "email"),
    ("invalid_email", json.dumps({"email": "not-an-email"}).encode(), "email"),
    ("unknown_role", json.dumps({"email": "e@example.com", "role": "superuser"}).encode(), "role"),
    ("owner_role", json.dumps({"email": "e@example.com", "role": "owner"}).encode(), "role"),
    ("extra_field", json.dumps({"email": "e@example.com", "nick": "E"}).encode(), "nick"),
    ("non_json", b"email=e@example.com", None),
    ("json_array", json.dumps([{"email": "e@example.com"}]).encode(), None),
    ("json_string", b'"e@example.com"', None),
]


@pytest.mark.parametrize(
    ("body", "field"), [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES]
)
def test_a_bad_invitation_body_gets_a_400_problem_naming_the_field(
    client: Any, services: Any, personas: Any, body: bytes, field: str | None
) -> None:
    headers = {**bearer(personas.a_key), "content-type": "application/json"}
    before = client.get("/api/v1/invitations", headers=headers).json()
    problem = assert_problem(client.post("/api/v1/invitations", content=body, headers=headers), 400)
    assert problem["type"] == "/api/docs#problem-invalid-input"
    if field:
        assert field in [e["field"] for e in problem["errors"]], problem
    assert client.get("/api/v1/invitations", headers=headers).json() == before
    assert services.mailer.outbox_messages() == []


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/nothing-here", 404),
        ("GET", "/api/v1/invitations/1/more", 404),
        ("PUT", "/api/v1/invitations", 405),
        ("DELETE", "/api/v1/workspace", 405),
        ("DELETE", f"/api/v1/invitations/{10**30}", 400),
    ],
)
def test_unknown_api_routes_and_methods_answer_problem_json(
    client: Any, personas: Any, method: str, path: str, status: int
) -> None:
    assert_problem(client.request(method, path, headers=bearer(personas.a_key)), status)


@pytest.mark.parametrize(
    "url", ["/api/v1/invitations", "/login", "/w/{slug}/settings"], ids=["api", "login", "form"]
)
def test_a_body_over_2_mb_is_refused_with_413(
    client: Any, services: Any, personas: Any, url: str
) -> None:
    client.login("alice@example.com")
    before = snapshot(services, personas.a_id)
    body = b"name=" + b"x" * (2 * 1024 * 1024 + 1)
    headers = {**FORM, **bearer(personas.a_key), "x-csrftoken": client.csrf()}
    response = client.post(url.format(slug=personas.a_slug), content=body, headers=headers)
    assert response.status_code == 413
    if url.startswith("/api/"):
        assert_problem(response, 413)
    assert snapshot(services, personas.a_id) == before


# -- login throttling and enumeration ----------------------------------------------------


def _login_message(client: Any, email: str, password: str) -> tuple[int, str]:
    response = client.submit("/login", {"email": email, "password": password})
    text = page_text(response)
    start = text.index('class="alert__title">') + len('class="alert__title">')
    return response.status_code, text[start : text.index("<", start)]


def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(
    client: Any, personas: Any
) -> None:
    wrong_password = _login_message(client, "alice@example.com", "not her password")
    unknown_email = _login_message(client, "nobody@example.com", "not her password")
    assert wrong_password == unknown_email == (400, "The email or password is not correct.")


@pytest.mark.parametrize("email", ["alice@example.com", "nobody@example.com"])
def test_five_failed_logins_lock_the_account_even_against_the_right_password(
    client: Any, services: Any, personas: Any, email: str
) -> None:
    for _ in range(5):
        assert _login_message(client, email, "guess")[0] == 400
    status, message = _login_message(client, email, PASSWORD)
    assert status == 429
    assert message.startswith("Too many failed attempts.")
    assert accounts.list_sessions(services.db, personas.alice_id) == []
    # Another account is not locked by someone guessing this one.
    assert client.login("bob@example.com").status_code == 303
