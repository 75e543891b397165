"""The ``chatmina`` command, run for real in a subprocess against a real data directory.

Each run costs about half a second, so every test checks one whole behaviour.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import text

from chatmina.accounts import service as accounts
from chatmina.app import build_services
from chatmina.settings import Settings
from chatmina.storage.keys import DB_FILE_NAME, KEY_FILE_NAME
from chatmina.ui.context import Services
from tests.conftest import MASTER_KEY, PASSWORD, Personas, make_settings
from tests.ops.helpers import assert_one_line_error, chatmina

NEW_PASSWORD = "a new and better passphrase"


def password_file(tmp_path: Path, password: str) -> str:
    path = tmp_path / "password"
    path.write_text(password + "\n")
    return str(path)


def row_counts(services: Services) -> tuple[int, ...]:
    with services.db.read() as s:
        return tuple(
            s.scalar(text(f"SELECT count(*) FROM {table}"))
            for table in ("users", "workspaces", "memberships")
        )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- setting up --------------------------------------------------------------------------


def test_migrate_creates_an_encrypted_database_and_its_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    result = chatmina(data_dir, "migrate", CHATMINA_MASTER_KEY=None)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    assert (data_dir / KEY_FILE_NAME).exists()
    assert not (data_dir / DB_FILE_NAME).read_bytes().startswith(b"SQLite format 3")
    services = build_services(make_settings(data_dir, CHATMINA_MASTER_KEY=""))
    assert not accounts.has_users(services.db)
    services.db.close()


@pytest.mark.parametrize("via", ["--password-file", "CHATMINA_ADMIN_PASSWORD"])
def test_create_admin_prints_the_workspace_slug(
    tmp_path: Path, settings: Settings, via: str
) -> None:
    args = ["create-admin", "--email", "Alice@Example.com", "--name", "Alice"]
    args += ["--workspace", "Acme Support"]
    if via == "--password-file":
        args += ["--password-file", password_file(tmp_path, PASSWORD)]
        result = chatmina(settings.data_path, *args)
    else:
        result = chatmina(settings.data_path, *args, CHATMINA_ADMIN_PASSWORD=PASSWORD)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "acme-support\n"
    services = build_services(settings)
    user = accounts.authenticate(services.db, services.passwords, "alice@example.com", PASSWORD)
    assert user is not None and user.is_instance_admin
    assert accounts.membership(services.db, user.id, "acme-support") is not None
    services.db.close()


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("dana@example.com", "short", "at least 10 characters"),
        ("not-an-email", PASSWORD, "valid email address"),
        ("ALICE@example.com", PASSWORD, "already exists"),
    ],
)
def test_create_admin_with_bad_input_is_a_one_line_error_and_creates_nothing(
    tmp_path: Path, services: Services, personas: Personas, email: str, password: str, message: str
) -> None:
    before = row_counts(services)
    args = ["create-admin", "--email", email, "--name", "Dana", "--workspace", "New Place"]
    args += ["--password-file", password_file(tmp_path, password)]
    result = chatmina(services.settings.data_path, *args)
    assert_one_line_error(result, "chatmina: ", message)
    assert row_counts(services) == before


def test_create_admin_with_bad_input_on_a_new_box_leaves_no_data_dir(tmp_path: Path) -> None:
    args = ["create-admin", "--email", "not-an-email", "--name", "Dana", "--workspace", "W"]
    result = chatmina(tmp_path / "data", *args, CHATMINA_ADMIN_PASSWORD=PASSWORD)
    assert_one_line_error(result, "valid email address")
    assert not (tmp_path / "data").exists()


# -- operating ---------------------------------------------------------------------------


def test_reset_password_sets_a_new_password(
    tmp_path: Path, services: Services, personas: Personas
) -> None:
    policy = services.session_policy
    accounts.start_session(services.db, services.keys, policy, personas.alice_id, "", "")
    args = ["reset-password", "--email", "alice@example.com"]
    result = chatmina(
        services.settings.data_path, *args, "--password-file", password_file(tmp_path, NEW_PASSWORD)
    )
    assert result.returncode == 0, result.stderr
    db, pw = services.db, services.passwords
    assert accounts.list_sessions(db, personas.alice_id) == []  # logged out everywhere
    assert accounts.authenticate(db, pw, "alice@example.com", NEW_PASSWORD) is not None
    assert accounts.authenticate(db, pw, "alice@example.com", PASSWORD) is None


def test_reset_password_for_an_unknown_email_is_a_clear_error(
    tmp_path: Path, settings: Settings
) -> None:
    args = ["reset-password", "--email", "nobody@example.com"]
    result = chatmina(
        settings.data_path, *args, "--password-file", password_file(tmp_path, NEW_PASSWORD)
    )
    assert_one_line_error(result, "No account with the email nobody@example.com")


def test_api_key_create_prints_a_key_that_authenticates(
    services: Services, personas: Personas
) -> None:
    args = ["api-key", "create", "--workspace", personas.a_slug, "--name", "Zapier"]
    result = chatmina(services.settings.data_path, *args)
    assert result.returncode == 0, result.stderr
    secret = result.stdout.strip()
    assert secret.startswith("cm_")
    workspace = accounts.workspace_for_api_key(services.db, services.keys, secret)
    assert workspace is not None and workspace.id == personas.a_id


def test_api_key_create_for_an_unknown_workspace_is_a_clear_error(settings: Settings) -> None:
    result = chatmina(settings.data_path, "api-key", "create", "--workspace", "nope", "--name", "x")
    assert_one_line_error(result, "No workspace with the slug nope")


# -- inspecting --------------------------------------------------------------------------


def test_config_masks_the_master_key_and_shows_where_values_came_from(tmp_path: Path) -> None:
    other_dir = tmp_path / "elsewhere"
    result = chatmina(tmp_path / "data", "--data-dir", str(other_dir), "config")
    assert result.returncode == 0, result.stderr
    assert MASTER_KEY[:8] not in result.stdout
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert lines["CHATMINA_MASTER_KEY"].split()[1:] == ["********", "(CHATMINA_MASTER_KEY)"]
    assert lines["CHATMINA_PASSWORD_HASHING"].endswith("(CHATMINA_PASSWORD_HASHING)")
    assert lines["CHATMINA_PORT"].split()[1:] == ["8000", "(default)"]
    assert str(other_dir) in lines["CHATMINA_DATA_DIR"]
    assert lines["CHATMINA_DATA_DIR"].endswith("(command line)")
    assert not other_dir.exists()  # config only reads


def test_version_names_chatmina_sqlcipher_and_sqlite_vec(tmp_path: Path) -> None:
    result = chatmina(tmp_path, "version")
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names[:2] == ["Chatmina", "SQLCipher"]
    assert "sqlite-vec" in names


# -- refusing to start -------------------------------------------------------------------


def test_a_wrong_key_stops_migrate_with_one_line_and_leaves_the_database_alone(
    settings: Settings,
) -> None:
    db_path = settings.data_path / DB_FILE_NAME
    before = sha256(db_path)
    result = chatmina(settings.data_path, "migrate", CHATMINA_MASTER_KEY="ab" * 32)
    assert_one_line_error(result, "key error", "CHATMINA_MASTER_KEY", str(db_path))
    assert result.returncode == 1
    assert sha256(db_path) == before
    assert not Path(f"{db_path}-wal").exists()
    assert not Path(f"{db_path}-shm").exists()


def test_a_database_without_its_key_stops_migrate_without_making_a_new_key(
    settings: Settings,
) -> None:
    result = chatmina(settings.data_path, "migrate", CHATMINA_MASTER_KEY=None)
    assert_one_line_error(result, "no master key was found")
    assert not (settings.data_path / KEY_FILE_NAME).exists()


def test_a_setting_it_cannot_use_is_a_configuration_error(tmp_path: Path) -> None:
    result = chatmina(tmp_path / "data", "migrate", CHATMINA_PORT="abc")
    assert_one_line_error(result, "configuration error", "CHATMINA_PORT")
    assert result.returncode == 2
    assert not (tmp_path / "data").exists()
