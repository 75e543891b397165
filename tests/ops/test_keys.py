"""Master-key rotation and `chatmina key info`: the old key stops working, nothing is lost."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatmina import clock
from chatmina.accounts import service as accounts
from chatmina.app import build_services
from chatmina.assistant import service as assistant
from chatmina.mail.service import Mailer
from chatmina.settings import Settings
from chatmina.storage import crypto, rekey
from chatmina.storage.backup import (
    BackupError,
    backup_database,
    backup_dir,
    backup_name,
    verify_backup,
)
from chatmina.storage.db import Database
from chatmina.storage.keys import DB_FILE_NAME, KEY_FILE_NAME, KeyError_, Keys, load_keys
from chatmina.ui.context import Services
from tests.conftest import MASTER_KEY, Personas
from tests.ops.helpers import (
    assert_one_line_error,
    chatmina,
    file_keyed_settings,
    keys_of,
    query,
    query_rows,
)
from tests.server_helpers import RunningServer

HEX_KEY = re.compile(r"\b[0-9a-f]{64}\b")
SMTP_PASSWORD = "relay password 42"

MODEL_KEY = "sk-rotate-me-0123456789"
MODEL_WITH_KEY = assistant.AssistantForm(
    assistant_name="Mina",
    tone="friendly",
    instructions="",
    knowledge_mode="knowledge_only",
    relevance_threshold="0.5",
    max_sources="6",
    max_tool_calls="4",
    llm_model="gpt-4o-mini",
    llm_api_key=MODEL_KEY,
)


@pytest.fixture
def file_keyed(tmp_path: Path, template_db: Path) -> Iterator[Settings]:
    """A data directory whose key is <data dir>/master.key, with secrets, mail and backups."""
    settings = file_keyed_settings(tmp_path, template_db)
    data_dir = settings.data_path
    services = build_services(settings)
    alice, workspace = accounts.create_owner(
        services.db,
        services.passwords,
        email="alice@example.com",
        name="Alice",
        password="correct horse battery",
        workspace_name="Acme Support",
    )
    assistant.save_config(services.db, services.keys, workspace.id, MODEL_WITH_KEY)
    accounts.create_api_key_by_slug(services.db, services.keys, "acme-support", "Widget")
    accounts.start_session(services.db, services.keys, services.session_policy, alice.id, "", "")
    services.mailer.send("bob@example.com", "Welcome", "Hello Bob", "<p>Hello Bob</p>")
    services.mailer.save_smtp_settings(
        host="smtp.example.com",
        port=587,
        security="starttls",
        username="chatmina",
        password=SMTP_PASSWORD,
        from_address="help@example.com",
    )
    backup_dir(data_dir).mkdir()
    backup_database(
        services.db.path, services.keys, backup_dir(data_dir) / backup_name(clock.now())
    )
    services.db.close()
    yield settings


def _mailer(settings: Settings, keys: Keys) -> tuple[Database, Mailer]:
    db = Database.open(settings.data_path, keys)
    return db, Mailer(db, keys, settings.data_path, settings.mail_from)


def test_rotation_moves_the_database_secrets_mail_and_backups_to_a_new_key_file(
    file_keyed: Settings,
) -> None:
    data_dir = file_keyed.data_path
    old = load_keys(file_keyed, create=False)

    rotation = rekey.rotate_master_key(file_keyed)

    new = load_keys(file_keyed, create=False)
    assert (data_dir / KEY_FILE_NAME).read_text().strip() == rotation.new_key_hex != MASTER_KEY
    assert not (data_dir / rekey.JOURNAL_NAME).exists()
    assert not (data_dir / rekey.OLD_KEY_NAME).exists()
    with pytest.raises(KeyError_, match="does not open"):
        Database.open(data_dir, old)
    db, mailer = _mailer(file_keyed, new)
    try:
        smtp = mailer.smtp_settings()
        assert smtp is not None and smtp.password == SMTP_PASSWORD
        [message] = mailer.outbox_messages()
        assert message.to == "bob@example.com" and "Hello Bob" in message.text
    finally:
        db.close()
    [(_, backup)] = [(t, p) for t, p in _backups(data_dir)]
    assert verify_backup(backup, new).counts["users"] == 1
    with pytest.raises(BackupError, match="does not open"):
        verify_backup(backup, old)
    live = data_dir / DB_FILE_NAME
    assert query(live, new, "SELECT count(*) FROM login_sessions") == [(0,)]
    assert query(live, new, "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL") == [(0,)]
    assert rotation.effects == ["1 login sessions ended", "1 API keys revoked (create new ones)"]
    # Every registered encrypted column decrypts with the new key, row by row.
    tables = {r[0] for r in query(live, new, "SELECT name FROM sqlite_master")}
    checked = 0
    for spec in rekey._COLUMNS:
        if spec.table not in tables:
            continue
        for row in query_rows(live, new, f'SELECT * FROM "{spec.table}"'):
            if row[spec.column]:
                crypto.decrypt(new.secrets, row[spec.column], spec.identity(row))
                checked += 1
    assert checked >= 3  # SMTP password, embedder config, the workspace's model key
    assert (rotation.files, rotation.backups, rotation.skipped) == (1, 1, [])
    db = Database.open(data_dir, new)
    try:
        workspace_id = accounts.workspace_by_slug(db, "acme-support").id
        config = assistant.load_config(db, new, file_keyed, workspace_id)
        assert config.chat_model is not None and config.chat_model.api_key == MODEL_KEY
    finally:
        db.close()


def _backups(data_dir: Path) -> list[tuple[object, Path]]:
    from chatmina.storage.backup import scheduled_backups

    return list(scheduled_backups(backup_dir(data_dir)))


def test_an_interrupted_rotation_blocks_start_up_and_is_finished_by_running_it_again(
    file_keyed: Settings,
) -> None:
    data_dir = file_keyed.data_path
    old = load_keys(file_keyed, create=False)
    new_hex = "3d" * 32
    new = keys_of(new_hex)
    # The state a crash right after the commit point leaves: journal written, database
    # re-encrypted, mail, backups and the key file not yet.
    rekey._write_private(data_dir / rekey.JOURNAL_NAME, new_hex + "\n")
    rekey._rotate_database(data_dir / DB_FILE_NAME, old, new, rekey.Rotation(new_hex, None))
    with pytest.raises(KeyError_, match="does not open"):
        build_services(file_keyed)

    rotation = rekey.rotate_master_key(file_keyed)

    assert rotation.resumed and rotation.new_key_hex == new_hex
    assert (rotation.files, rotation.backups) == (1, 1)
    assert (data_dir / KEY_FILE_NAME).read_text().strip() == new_hex
    services = build_services(file_keyed)
    try:
        smtp = services.mailer.smtp_settings()
        assert smtp is not None and smtp.password == SMTP_PASSWORD
        assert len(services.mailer.outbox_messages()) == 1
    finally:
        services.db.close()


def test_a_rotation_interrupted_before_the_database_moved_starts_over_cleanly(
    file_keyed: Settings,
) -> None:
    data_dir = file_keyed.data_path
    new_hex = "4e" * 32
    rekey._write_private(data_dir / rekey.JOURNAL_NAME, new_hex + "\n")
    (data_dir / (DB_FILE_NAME + ".rekeying")).write_bytes(b"half a copy")
    services = build_services(file_keyed)  # the old key still opens everything
    services.db.close()

    rotation = rekey.rotate_master_key(file_keyed)

    assert rotation.resumed and rotation.new_key_hex == new_hex
    assert not (data_dir / (DB_FILE_NAME + ".rekeying")).exists()
    assert load_keys(file_keyed, create=False).database == keys_of(new_hex).database


def test_rotating_an_environment_key_prints_the_new_key_once_and_the_old_one_stops_working(
    settings: Settings, services: Services, personas: Personas
) -> None:
    services.db.close()
    result = chatmina(settings.data_path, "key", "rotate", "--yes")
    assert result.returncode == 0, result.stderr
    [new_key] = HEX_KEY.findall(result.stdout)
    assert "CHATMINA_MASTER_KEY" in result.stdout
    assert "2 API keys revoked" in result.stdout
    assert not (settings.data_path / rekey.JOURNAL_NAME).exists()
    assert not (settings.data_path / KEY_FILE_NAME).exists()

    assert_one_line_error(chatmina(settings.data_path, "migrate"), "does not open")
    info = chatmina(settings.data_path, "key", "info", CHATMINA_MASTER_KEY=new_key)
    assert info.returncode == 0, info.stderr
    assert "opens with this key" in info.stdout
    events = query(
        settings.data_path / DB_FILE_NAME,
        keys_of(new_key),
        "SELECT action FROM audit_events WHERE action = 'key.rotated'",
    )
    assert events == [("key.rotated",)]


def test_rotation_asks_first_and_refuses_without_a_terminal(settings: Settings) -> None:
    result = chatmina(settings.data_path, "key", "rotate")
    assert result.returncode != 0
    assert "every API key stops working" in result.stderr
    assert "add --yes" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (settings.data_path / rekey.JOURNAL_NAME).exists()


def test_rotation_refuses_while_the_server_runs(settings: Settings) -> None:
    with RunningServer(settings.data_path, master_key=MASTER_KEY) as server:
        result = chatmina(settings.data_path, "key", "rotate", "--yes")
        assert_one_line_error(result, "server is running", f"pid {server.pid}")
    assert not (settings.data_path / rekey.JOURNAL_NAME).exists()
    assert_ok = chatmina(settings.data_path, "key", "info")
    assert "opens with this key" in assert_ok.stdout


def test_key_info_says_where_the_key_comes_from(
    file_keyed: Settings, settings: Settings, tmp_path: Path
) -> None:
    from_file = chatmina(file_keyed.data_path, "key", "info", CHATMINA_MASTER_KEY=None)
    assert from_file.returncode == 0, from_file.stderr
    assert f"{file_keyed.data_path / KEY_FILE_NAME} (a file in the data directory)" in (
        from_file.stdout
    )
    assert "keep a copy somewhere else" in from_file.stdout
    assert "opens with this key" in from_file.stdout
    assert MASTER_KEY not in from_file.stdout

    from_env = chatmina(settings.data_path, "key", "info")
    assert "the environment variable CHATMINA_MASTER_KEY" in from_env.stdout
    assert MASTER_KEY not in from_env.stdout

    key_file = tmp_path / "credential"
    key_file.write_text(MASTER_KEY)
    from_env_file = chatmina(
        settings.data_path,
        "key",
        "info",
        CHATMINA_MASTER_KEY=None,
        CHATMINA_MASTER_KEY_FILE=str(key_file),
    )
    assert f"the file {key_file} (CHATMINA_MASTER_KEY_FILE)" in from_env_file.stdout
    fingerprint = re.search(r"Fingerprint: (\w+)", from_env.stdout)
    assert fingerprint and fingerprint.group(0) in from_env_file.stdout

    wrong = chatmina(settings.data_path, "key", "info", CHATMINA_MASTER_KEY="9f" * 32)
    assert wrong.returncode == 1
    assert "does NOT open with this key" in wrong.stdout


def test_every_encrypted_column_in_the_schema_is_registered_for_rotation(
    template_db: Path,
) -> None:
    keys = keys_of(MASTER_KEY)
    plain = "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'"
    tables = [r[0] for r in query(template_db, keys, plain)]
    encrypted = set()
    for table in tables:
        for column in query_rows(template_db, keys, f"PRAGMA table_info('{table}')"):
            if str(column["name"]).endswith("_encrypted"):
                encrypted.add((table, column["name"]))
    registered = {(spec.table, spec.column) for spec in rekey._COLUMNS}
    assert encrypted, "the schema has encrypted columns (smtp_config.password_encrypted)"
    assert encrypted <= registered, f"register these in storage/rekey.py: {encrypted - registered}"
