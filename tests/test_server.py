"""The real server, as an admin runs it: `python -m chatmina serve` in a subprocess.

These tests check what only the whole process can show: the one-time setup link, that
nothing users type reaches the data directory in the clear (the product's promise of
encryption at rest), that a wrong key never touches an existing database, and a clean
shutdown on SIGTERM.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.server_helpers import RunningServer, WebSession

PASSWORD = "correct horse battery"
KEY_1 = "1a" * 32
KEY_2 = "2b" * 32


@pytest.fixture
def servers() -> Iterator[list[RunningServer]]:
    """Servers a test started; any still running at the end are stopped."""
    started: list[RunningServer] = []
    yield started
    for server in started:
        server.kill()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def start(
    servers: list[RunningServer], data_dir: Path, master_key: str | None = None
) -> RunningServer:
    server = RunningServer(data_dir, master_key=master_key)
    servers.append(server)
    return server.start()


def set_up(web: WebSession, setup_url: str, name: str, workspace: str) -> str:
    """Complete first-run setup through the form; returns the new workspace's path."""
    token = parse_qs(urlsplit(setup_url).query)["token"][0]
    assert web.get(f"/setup?token={token}").status_code == 200
    response = web.submit(
        "/setup",
        {
            "token": token,
            "name": name,
            "email": "owner@example.com",
            "workspace": workspace,
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        },
    )
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert re.fullmatch(r"/w/[a-z0-9-]+/", location), location
    return location


def snapshot(root: Path) -> dict[str, str]:
    """Every file and directory under root: relative path -> SHA-256 (or "dir")."""
    return {
        path.relative_to(root).as_posix(): (
            "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
        )
        for path in sorted(root.rglob("*"))
    }


# -- first run -------------------------------------------------------------------------


def test_first_run_prints_a_setup_link_that_alone_can_create_the_owner(
    servers: list[RunningServer], data_dir: Path
) -> None:
    server = start(servers, data_dir)
    setup_url = server.setup_url
    assert setup_url.startswith(server.url + "/setup?token=")
    token = parse_qs(urlsplit(setup_url).query)["token"][0]

    with WebSession(server.url) as web:
        assert web.get("/").status_code == 200  # "not set up yet", without the link
        assert token not in web.get("/").text
        assert web.get("/setup").status_code == 403
        assert web.get("/setup?token=not-the-token").status_code == 403
        forged = web.submit(
            "/setup",
            {
                "token": "not-the-token",
                "name": "Mallory",
                "email": "mallory@example.com",
                "workspace": "Stolen",
                "password": PASSWORD,
                "password_confirm": PASSWORD,
            },
        )
        assert forged.status_code == 403
        no_csrf = web.client.post("/setup", data={"token": token, "name": "Owner"})
        assert no_csrf.status_code == 403

        dashboard = set_up(web, setup_url, "Olivia Owner", "Acme Support")
        page = web.get(dashboard)
        assert page.status_code == 200
        assert "Acme Support" in page.text
        # The link works once: afterwards the page says setup is done.
        assert web.get(f"/setup?token={token}").status_code == 404

    assert server.stop() == 0
    again = start(servers, data_dir)
    assert not any("/setup?token=" in line for line in again.stderr_lines), again.output
    with WebSession(again.url) as web:
        assert web.get(f"/setup?token={token}").status_code == 404
        login = web.submit("/login", {"email": "owner@example.com", "password": PASSWORD})
        assert login.status_code == 303, login.text


# -- the canary: nothing typed in is ever stored in the clear --------------------------


def needles(canary: str) -> dict[str, bytes]:
    unique = canary.split("-", 1)[1]
    found = {}
    for text in {canary, canary.lower(), canary.upper(), unique, unique.upper()}:
        for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
            found[f"{text!r} in {encoding}"] = text.encode(encoding)
    return found


def leaks(root: Path, canary: str) -> list[str]:
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # a -journal or .tmp file that came and went
            continue
        for label, needle in needles(canary).items():
            if needle in data:
                found.append(f"{path.relative_to(root)}: {label}")
    return found


def test_nothing_users_type_is_stored_in_the_clear_anywhere_in_the_data_dir(
    servers: list[RunningServer], data_dir: Path
) -> None:
    canary = "CANARY-" + uuid.uuid4().hex
    server = start(servers, data_dir)

    with WebSession(server.url) as owner, WebSession(server.url) as invitee:
        home = set_up(owner, server.setup_url, f"Owner {canary}", f"Shop {canary}")
        slug = home.strip("/").split("/")[1]

        steps = [
            ("/account/profile", {"name": f"Renamed {canary}"}),
            (f"/w/{slug}/settings", {"name": f"Store {canary}"}),
            (
                f"/w/{slug}/members/invite",
                {"email": f"{canary.lower()}@example.com", "role": "agent"},
            ),
            (f"/w/{slug}/api-keys", {"key_name": f"Key {canary}"}),
        ]
        for url, form in steps:
            response = owner.submit(url, form)
            assert response.status_code in (201, 303), (url, response.text)

        # The data really went in: the pages show it back (decrypted).
        assert f"Renamed {canary}" in owner.get("/account").text
        settings = owner.get(f"/w/{slug}/settings").text
        assert f"Store {canary}" in settings
        assert f"Key {canary}" in settings
        assert f"{canary.lower()}@example.com" in owner.get(f"/w/{slug}/members").text

        outbox = owner.get("/instance/outbox").text
        message_id = re.search(r'href="/instance/outbox/([^"]+)"', outbox)
        assert message_id, outbox
        email = owner.get(f"/instance/outbox/{message_id.group(1)}").text
        link = re.search(r"/invite\?token=([A-Za-z0-9._~-]+)", email)
        assert link, email
        accepted = invitee.submit(
            "/invite",
            {
                "token": link.group(1),
                "name": f"Agent {canary}",
                "password": PASSWORD,
                "password_confirm": PASSWORD,
            },
        )
        assert accepted.status_code == 303, accepted.text
        password_reset = invitee.submit("/forgot-password", {"email": f"{canary}@example.com"})
        assert password_reset.status_code == 303

    files = {p.name for p in data_dir.rglob("*") if p.is_file()}
    assert {"chatmina.db", "master.key"} <= files, files
    assert len(list((data_dir / "outbox").glob("*.eml.enc"))) == 2
    assert (data_dir / "chatmina.db-wal").stat().st_size > 0  # the scan covers unflushed pages
    assert leaks(data_dir, canary) == []
    # Only the server's own user may read what it wrote.
    shared = [str(p) for p in data_dir.rglob("*") if p.stat().st_mode & 0o077]
    assert shared == []

    assert server.stop() == 0
    assert leaks(data_dir, canary) == []


# -- a wrong key for an existing database --------------------------------------------


@pytest.mark.parametrize(
    ("second_key", "crash"),
    [
        pytest.param(KEY_2, False, id="wrong-key"),
        pytest.param(None, False, id="no-key"),
        # A crashed server leaves -wal and -shm behind: a connection that merely tried the
        # wrong key must not checkpoint them into chatmina.db as it closes.
        pytest.param(KEY_2, True, id="wrong-key-after-a-crash"),
    ],
)
def test_a_wrong_or_missing_key_stops_start_up_and_leaves_every_file_untouched(
    servers: list[RunningServer], data_dir: Path, second_key: str | None, crash: bool
) -> None:
    first = start(servers, data_dir, master_key=KEY_1)
    with WebSession(first.url) as web:
        set_up(web, first.setup_url, "Olivia Owner", "Acme Support")
    if crash:
        first.kill()  # SIGKILL: the -wal and -shm files stay behind, the WAL not checkpointed
        assert (data_dir / "chatmina.db-wal").stat().st_size > 0
    else:
        assert first.stop() == 0
    before = snapshot(data_dir)
    assert "master.key" not in before  # the key came from the environment

    second = RunningServer(data_dir, master_key=second_key)
    servers.append(second)
    began = time.monotonic()
    second.spawn()
    code = second.wait(timeout=10)
    took = time.monotonic() - began

    assert code != 0
    assert took < 5, f"took {took:.1f} s to refuse"
    lines = [line for line in second.stderr_lines if line.strip()]
    assert len(lines) == 1, second.output
    assert "CHATMINA_MASTER_KEY" in lines[0]
    assert "chatmina.db" in lines[0]
    assert "Traceback" not in second.output
    assert second.stdout_lines == []
    assert snapshot(data_dir) == before


# -- shutdown ------------------------------------------------------------------------


def test_sigterm_stops_the_server_cleanly_and_checkpoints_the_wal(
    servers: list[RunningServer], data_dir: Path
) -> None:
    server = start(servers, data_dir)
    with WebSession(server.url) as web:
        set_up(web, server.setup_url, "Olivia Owner", "Acme Support")
    wal = data_dir / "chatmina.db-wal"
    assert wal.stat().st_size > 0

    assert server.stop() == 0
    assert not wal.exists() or wal.stat().st_size == 0
    assert "Traceback" not in server.output
    assert any("shutdown complete" in line.lower() for line in server.stderr_lines), server.output


# -- security headers ----------------------------------------------------------------


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def test_every_response_carries_the_security_headers(
    servers: list[RunningServer], data_dir: Path
) -> None:
    server = start(servers, data_dir)
    with WebSession(server.url) as web:
        login = web.get("/login")
        stylesheet = re.search(r'href="(/static/[^"]+)"', login.text)
        assert stylesheet, login.text
        responses = [
            login,
            web.get("/healthz"),
            web.get("/no-such-page"),
            web.client.request("DELETE", "/login"),
            web.get("/setup"),
            web.get(stylesheet.group(1)),
        ]
    for response in responses:
        where = f"{response.request.url.path}: {response.status_code}"
        headers = response.headers
        csp = csp_directives(headers["content-security-policy"])
        script_src = csp.get("script-src", csp.get("default-src"))
        assert script_src is not None, where
        assert "'unsafe-inline'" not in script_src, where
        assert "'unsafe-eval'" not in script_src, where
        assert csp["frame-ancestors"] == ["'none'"], where
        assert csp["object-src"] == ["'none'"], where
        assert headers["x-frame-options"] == "DENY", where
        assert headers["x-content-type-options"] == "nosniff", where
