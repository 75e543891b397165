"""Shared fixtures: a real SQLCipher database per test (copied from a migrated template),
the app over Litestar's test client, and the personas.

Alice owns workspace A, Bob is an agent in A, Charlie owns workspace B and must never see
anything of A.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from chatmina import clock
from chatmina.accounts import service as accounts
from chatmina.app import build_services, create_app
from chatmina.settings import Settings, load_settings
from chatmina.storage.keys import DB_FILE_NAME
from chatmina.ui.context import Services
from tests.fakes.openai_server import fake_openai  # noqa: F401

MASTER_KEY = "5c" * 32
PASSWORD = "correct horse battery"


def make_settings(data_dir: Path, **env: str) -> Settings:
    environ = {
        "CHATMINA_DATA_DIR": str(data_dir),
        "CHATMINA_MASTER_KEY": MASTER_KEY,
        "CHATMINA_PASSWORD_HASHING": "insecure-fast",
        **env,
    }
    return load_settings(environ)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database, built once per test process."""
    data_dir = tmp_path_factory.mktemp("template")
    services = build_services(make_settings(data_dir))
    services.db.checkpoint()
    services.db.close()
    return data_dir / DB_FILE_NAME


@pytest.fixture
def settings(tmp_path: Path, template_db: Path) -> Settings:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copyfile(template_db, data_dir / DB_FILE_NAME)
    return make_settings(data_dir)


@pytest.fixture(autouse=True)
def _reset_clock() -> Iterator[None]:
    yield
    clock.reset()


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    svc = build_services(settings)
    yield svc
    svc.db.close()


@pytest.fixture
def app(services: Services) -> Litestar:
    return create_app(services, run_scheduler=False)


class Browser(TestClient[Litestar]):
    """The test client with the habits of a browser: CSRF token in every form post."""

    def csrf(self) -> str:
        if "chatmina_csrf" not in self.cookies:
            self.get("/login")
        return str(self.cookies["chatmina_csrf"])

    def submit(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        form = {**(data or {}), "_csrf_token": self.csrf()}
        return self.post(url, data=form, follow_redirects=False, **kwargs)

    def login(self, email: str, password: str = PASSWORD) -> Any:
        response = self.submit("/login", {"email": email, "password": password})
        assert response.status_code == 303, response.text
        return response


@pytest.fixture
def client(app: Litestar) -> Iterator[Browser]:
    with Browser(app=app, base_url="http://testserver.local") as c:
        yield c


@pytest.fixture
def make_client(app: Litestar) -> Iterator[Any]:
    """More independent browsers (each with its own cookies)."""
    made: list[Browser] = []

    def make() -> Browser:
        c = Browser(app=app, base_url="http://testserver.local")
        c.__enter__()
        made.append(c)
        return c

    yield make
    for c in made:
        c.__exit__(None, None, None)


@dataclass
class Personas:
    alice_id: int
    bob_id: int
    charlie_id: int
    a_id: int
    a_slug: str
    b_id: int
    b_slug: str
    a_key: str
    b_key: str


@pytest.fixture
def personas(services: Services) -> Personas:
    db, pw, keys = services.db, services.passwords, services.keys
    alice, ws_a = accounts.create_owner(
        db,
        pw,
        email="alice@example.com",
        name="Alice",
        password=PASSWORD,
        workspace_name="Acme Support",
    )
    charlie, ws_b = accounts.create_owner(
        db,
        pw,
        email="charlie@example.com",
        name="Charlie",
        password=PASSWORD,
        workspace_name="Bravo Help",
        instance_admin=False,
    )
    _, token = accounts.invite(db, keys, ws_a.id, alice.id, "owner", "bob@example.com", "agent")
    bob, _ = accounts.accept_invitation(db, keys, pw, token, name="Bob", password=PASSWORD)
    _, a_key = accounts.create_api_key(db, keys, ws_a.id, "A key", alice.id)
    _, b_key = accounts.create_api_key(db, keys, ws_b.id, "B key", charlie.id)
    services.setup_token = None
    return Personas(
        alice.id, bob.id, charlie.id, ws_a.id, ws_a.slug, ws_b.id, ws_b.slug, a_key, b_key
    )
