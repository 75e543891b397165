"""The admin pages end to end: first run, sessions and their cookie, the security headers,
the workspace switcher, the invitation flow and static files."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from chatmina.accounts import service as accounts
from chatmina.app import build_services, create_app
from chatmina.storage.keys import DB_FILE_NAME
from tests.accounts.helpers import page_text
from tests.conftest import PASSWORD, Browser, make_settings

SESSION = "chatmina_session"
NEW_PASSWORD = "a much newer passphrase"


def _set_cookie(response: Any, name: str) -> Any:
    """The Set-Cookie morsel for ``name``, with its attributes."""
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        if name in jar:
            return jar[name]
    raise AssertionError(f"no Set-Cookie for {name}")


# -- first run ---------------------------------------------------------------------------


def test_the_home_page_of_an_empty_server_explains_the_setup_link(client: Any) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "setup link" in response.text
    assert "Finish setting up Chatmina" in response.text


@pytest.mark.parametrize("token", ["", "wrong-token"], ids=["no_token", "wrong_token"])
def test_setup_without_the_printed_token_is_refused_and_creates_no_one(
    client: Any, services: Any, token: str
) -> None:
    assert client.get(f"/setup?token={token}").status_code == 403
    form = {"token": token, "name": "Mallory", "email": "mallory@example.com"}
    form |= {"workspace": "Mine", "password": PASSWORD, "password_confirm": PASSWORD}
    response = client.submit("/setup", form)
    assert response.status_code == 403
    assert "setup link is not valid" in page_text(response)
    assert not accounts.has_users(services.db)


def test_setup_with_the_token_creates_the_owner_and_logs_them_in(
    client: Any, services: Any
) -> None:
    token = services.setup_token
    assert client.get(f"/setup?token={token}").status_code == 200
    response = client.submit(
        "/setup",
        {
            "token": token,
            "name": "Olga",
            "email": "olga@example.com",
            "workspace": "Olga Ltd",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/w/olga-ltd/"
    dashboard = client.get("/w/olga-ltd/")
    assert dashboard.status_code == 200
    assert "Olga Ltd" in dashboard.text
    assert "Olga" in dashboard.text

    for again in (client.get(f"/setup?token={token}"), client.submit("/setup", {"token": token})):
        assert again.status_code == 404
        assert "Setup is already complete" in page_text(again)


# -- the session cookie ------------------------------------------------------------------


def test_the_session_cookie_is_httponly_and_lax_and_not_secure_over_http(
    client: Any, personas: Any
) -> None:
    cookie = _set_cookie(client.login("alice@example.com"), SESSION)
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "lax"
    assert not cookie["secure"]
    assert cookie["path"] == "/"


@pytest.fixture
def https_client(tmp_path: Path, template_db: Path) -> Any:
    data_dir = tmp_path / "https-data"
    data_dir.mkdir()
    shutil.copyfile(template_db, data_dir / DB_FILE_NAME)
    settings = make_settings(data_dir, CHATMINA_PUBLIC_URL="https://chat.example.com")
    services = build_services(settings)
    accounts.create_owner(
        services.db,
        services.passwords,
        email="alice@example.com",
        name="Alice",
        password=PASSWORD,
        workspace_name="Acme Support",
    )
    app = create_app(services, run_scheduler=False)
    with TestClient(app=app, base_url="https://chat.example.com") as client:
        yield client
    services.db.close()


def test_the_session_cookie_is_secure_when_the_public_url_is_https(https_client: Any) -> None:
    https_client.get("/login")
    response = https_client.post(
        "/login",
        data={
            "email": "alice@example.com",
            "password": PASSWORD,
            "_csrf_token": https_client.cookies["chatmina_csrf"],
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    cookie = _set_cookie(response, SESSION)
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert "max-age=31536000" in response.headers["strict-transport-security"]


# -- security headers and no inline code -------------------------------------------------

INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I)
HANDLER_ATTRIBUTE = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)

PAGES = [
    (None, "/login"),
    (None, "/forgot-password"),
    (None, "/invite?token=nonsense"),
    ("alice@example.com", "/w/{a_slug}/"),
    ("alice@example.com", "/w/{a_slug}/members"),
    ("alice@example.com", "/w/{a_slug}/settings"),
    ("alice@example.com", "/w/{a_slug}/knowledge"),
    ("alice@example.com", "/account"),
    ("alice@example.com", "/api/docs"),
    ("alice@example.com", "/workspaces/new"),
    ("alice@example.com", "/instance/email"),
    ("alice@example.com", "/instance/outbox"),
    ("alice@example.com", "/w/no-such-workspace/"),
]


@pytest.mark.parametrize(("who", "path"), PAGES)
def test_every_page_has_a_strict_csp_and_no_inline_code(
    client: Any, personas: Any, who: str | None, path: str
) -> None:
    if who:
        client.login(who)
    response = client.get(path.format(a_slug=personas.a_slug))
    assert response.status_code in (200, 400, 404)
    assert response.headers["content-type"].startswith("text/html")
    csp = dict(
        part.strip().split(" ", 1)
        for part in response.headers["content-security-policy"].split(";")
    )
    assert csp["script-src"] == "'self'"
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    html = response.text
    assert INLINE_SCRIPT.findall(html) == []
    assert STYLE_ATTRIBUTE.findall(html) == []
    assert HANDLER_ATTRIBUTE.findall(html) == []


# -- ending sessions ---------------------------------------------------------------------


@pytest.fixture
def browsers(app: Any) -> Callable[[], Browser]:
    """Independent browsers that do not run the app's lifespan. Litestar runs one lifespan
    per app at a time: two clients entered on one app (make_client called twice) hang on
    exit, waiting for a shutdown that the other client's startup replaced."""
    return lambda: Browser(app=app, base_url="http://testserver.local")


def _is_logged_in(client: Any) -> bool:
    return bool(client.get("/account", follow_redirects=False).status_code == 200)


def test_logging_out_ends_the_session_for_good(client: Any, browsers: Any, personas: Any) -> None:
    client.login("alice@example.com")
    old_cookie = client.cookies[SESSION]
    assert client.submit("/logout").headers["location"] == "/login"
    assert not _is_logged_in(client)
    replay = browsers()
    replay.cookies.set(SESSION, old_cookie)
    assert not _is_logged_in(replay)


def test_logging_out_everywhere_ends_every_session_of_that_user(
    browsers: Any, services: Any, personas: Any
) -> None:
    laptop, phone, bob = browsers(), browsers(), browsers()
    laptop.login("alice@example.com")
    phone.login("alice@example.com")
    bob.login("bob@example.com")
    assert laptop.submit("/account/logout-everywhere").status_code == 303
    assert not _is_logged_in(laptop)
    assert not _is_logged_in(phone)
    assert _is_logged_in(bob)
    assert accounts.list_sessions(services.db, personas.alice_id) == []


def test_changing_the_password_logs_out_the_other_sessions_but_keeps_this_one(
    browsers: Any, services: Any, personas: Any
) -> None:
    laptop, phone = browsers(), browsers()
    laptop.login("alice@example.com")
    phone.login("alice@example.com")
    response = laptop.submit(
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_confirm": NEW_PASSWORD,
        },
    )
    assert response.status_code == 303
    assert _is_logged_in(laptop)
    assert not _is_logged_in(phone)
    assert (
        phone.submit("/login", {"email": "alice@example.com", "password": PASSWORD}).status_code
        == 400
    )
    assert phone.login("alice@example.com", NEW_PASSWORD).status_code == 303


# -- workspaces and invitations ----------------------------------------------------------


def test_a_user_in_two_workspaces_sees_and_opens_both(client: Any, personas: Any) -> None:
    client.login("alice@example.com")
    response = client.submit("/workspaces/new", {"name": "Second Desk"})
    assert response.status_code == 303
    assert response.headers["location"] == "/w/second-desk/"
    for slug, name in ((personas.a_slug, "Acme Support"), ("second-desk", "Second Desk")):
        page = client.get(f"/w/{slug}/")
        assert page.status_code == 200
        assert f'href="/w/{personas.a_slug}/"' in page.text
        assert 'href="/w/second-desk/"' in page.text
        assert "Acme Support" in page.text and "Second Desk" in page.text
        current = re.search(r'class="switcher__name">([^<]*)<', page.text)
        assert current and current.group(1) == name


def test_an_invitation_goes_from_the_members_page_to_a_new_agent(
    client: Any, browsers: Any, services: Any, personas: Any
) -> None:
    client.login("alice@example.com")
    response = client.submit(
        f"/w/{personas.a_slug}/members/invite", {"email": "dave@example.com", "role": "agent"}
    )
    assert response.status_code == 303
    assert "dave@example.com" in client.get(f"/w/{personas.a_slug}/members").text

    (message,) = services.mailer.outbox_messages()
    assert message.to == "dave@example.com"
    found = re.search(r"https?://[^/\s]+(/invite\?token=[^\s]+)", message.text)
    assert found, message.text
    link = found.group(1)

    dave = browsers()
    page = dave.get(link)
    assert page.status_code == 200
    assert "Acme Support" in page.text
    token = link.split("token=", 1)[1]
    response = dave.submit(
        "/invite",
        {"token": token, "name": "Dave", "password": PASSWORD, "password_confirm": PASSWORD},
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/w/{personas.a_slug}/"
    assert dave.get(response.headers["location"]).status_code == 200
    roles = {m.email: m.role for m in accounts.list_members(services.db, personas.a_id)}
    assert roles["dave@example.com"] == "agent"

    again = browsers().get(link)
    assert again.status_code == 400
    assert "already been used" in page_text(again)


# -- static files ------------------------------------------------------------------------


def test_a_pages_css_has_a_content_hash_url_cached_for_good(client: Any) -> None:
    page = client.get("/login")
    found = re.search(
        r'<link rel="stylesheet" href="(/static/css/app\.css\?v=([0-9a-f]{8,}))"', page.text
    )
    assert found, page.text
    response = client.get(found.group(1))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert "immutable" in response.headers["cache-control"]
    assert "max-age=31536000" in response.headers["cache-control"]
    stale = client.get("/static/css/app.css?v=000000000000")
    assert "immutable" not in stale.headers["cache-control"]
