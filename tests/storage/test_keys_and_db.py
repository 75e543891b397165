"""The master key, its sub-keys, and the encrypted database they open."""

from __future__ import annotations

import hashlib
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlcipher3.dbapi2 as sqlcipher
from alembic.script import ScriptDirectory
from sqlalchemy import event, text

from chatmina import clock
from chatmina.accounts.models import Workspace
from chatmina.app import build_services
from chatmina.settings import Settings, load_settings
from chatmina.storage import crypto
from chatmina.storage.db import Database, connect_raw
from chatmina.storage.keys import DB_FILE_NAME, KEY_FILE_NAME, KeyError_, Keys, load_keys
from chatmina.storage.migrate import MIGRATIONS_DIR, current_revision, migrate
from chatmina.storage.migrations import HEAD
from chatmina.ui.context import Services
from tests.conftest import make_settings

WRONG_KEY = "ab" * 32


def keyless_settings(data_dir: Path, **env: str) -> Settings:
    """Settings with no CHATMINA_MASTER_KEY, so master.key in the data dir is used."""
    return load_settings({"CHATMINA_DATA_DIR": str(data_dir), **env})


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def companions(db_path: Path) -> list[Path]:
    return [p for p in (Path(f"{db_path}-wal"), Path(f"{db_path}-shm")) if p.exists()]


# -- keys --------------------------------------------------------------------------------


def test_a_new_data_dir_gets_a_master_key_readable_only_by_its_owner(tmp_path: Path) -> None:
    settings = keyless_settings(tmp_path / "data")
    keys = load_keys(settings)
    key_file = tmp_path / "data" / KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(bytes.fromhex(key_file.read_text())) == 32
    assert keys.source == str(key_file)
    assert load_keys(settings) == keys  # the second start reads the same key


def test_sub_keys_are_distinct_and_deterministic() -> None:
    master = bytes(range(32))
    keys = Keys.from_master(master, "test")
    assert Keys.from_master(master, "test") == keys
    subkeys = {keys.database, keys.secrets, keys.signing, master}
    assert len(subkeys) == 4
    assert all(len(k) == 32 for k in subkeys)
    other = Keys.from_master(bytes(32), "test")
    assert {other.database, other.secrets, other.signing}.isdisjoint(subkeys)


@pytest.mark.parametrize("bad", ["abc", "zz" * 32, "ab" * 31, "ab" * 33])
def test_a_master_key_that_is_not_64_hex_characters_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(KeyError_, match="CHATMINA_MASTER_KEY"):
        load_keys(keyless_settings(tmp_path, CHATMINA_MASTER_KEY=bad))
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_the_key_file_variable_beats_the_key_variable_beats_master_key(tmp_path: Path) -> None:
    from_file, from_env, from_dir = "11" * 32, "22" * 32, "33" * 32
    (tmp_path / KEY_FILE_NAME).write_text(from_dir)
    (tmp_path / "key").write_text(from_file)
    env = {"CHATMINA_MASTER_KEY_FILE": str(tmp_path / "key"), "CHATMINA_MASTER_KEY": from_env}

    def keys_with(**env: str) -> Keys:
        return load_keys(keyless_settings(tmp_path, **env))

    assert keys_with(**env) == Keys.from_master(
        bytes.fromhex(from_file), "CHATMINA_MASTER_KEY_FILE"
    )
    del env["CHATMINA_MASTER_KEY_FILE"]
    assert keys_with(**env) == Keys.from_master(bytes.fromhex(from_env), "CHATMINA_MASTER_KEY")
    key_path = str(tmp_path / KEY_FILE_NAME)
    assert keys_with() == Keys.from_master(bytes.fromhex(from_dir), key_path)


def test_an_existing_database_without_a_key_refuses_to_start(
    tmp_path: Path, template_db: Path
) -> None:
    shutil.copyfile(template_db, tmp_path / DB_FILE_NAME)
    with pytest.raises(KeyError_, match="no master key was found"):
        build_services(keyless_settings(tmp_path))
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_a_wrong_key_is_named_and_leaves_the_database_untouched(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    db_path = settings.data_path / DB_FILE_NAME
    before = sha256(db_path)
    with pytest.raises(KeyError_, match="from CHATMINA_MASTER_KEY does not open"):
        build_services(make_settings(settings.data_path, CHATMINA_MASTER_KEY=WRONG_KEY))
    assert sha256(db_path) == before
    assert companions(db_path) == []
    assert capfd.readouterr().err == ""  # SQLCipher's own log lines stay quiet


def test_a_wrong_key_after_a_crash_leaves_the_wal_alone(services: Services, tmp_path: Path) -> None:
    with services.db.write() as s:
        s.add(
            Workspace(slug="w", public_id="wk_w", name="Before the crash", created_at=clock.now())
        )
    crashed = tmp_path / "crashed"  # the files as a killed server leaves them: WAL not merged
    crashed.mkdir()
    for path in [services.db.path, *companions(services.db.path)]:
        shutil.copyfile(path, crashed / path.name)
    before = {p.name: sha256(p) for p in crashed.iterdir()}
    assert len(before) == 3

    with pytest.raises(KeyError_, match="does not open"):
        build_services(make_settings(crashed, CHATMINA_MASTER_KEY=WRONG_KEY))
    assert {p.name: sha256(p) for p in crashed.iterdir()} == before

    recovered = build_services(make_settings(crashed))
    with recovered.db.read() as s:
        assert s.scalar(text("SELECT name FROM workspaces WHERE slug = 'w'")) == "Before the crash"
    recovered.db.close()


# -- the database ------------------------------------------------------------------------


def test_the_key_is_the_first_statement_on_every_new_connection(settings: Settings) -> None:
    db = Database(settings.data_path / DB_FILE_NAME, load_keys(settings))
    statements: list[str] = []

    @event.listens_for(db.engine, "connect", insert=True)
    def trace(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.set_trace_callback(statements.append)

    with db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    db.close()
    assert statements[0].startswith("PRAGMA key")


def test_every_pooled_connection_has_sqlite_vec_and_the_pragmas(services: Services) -> None:
    expected = {"journal_mode": "wal", "foreign_keys": 1, "secure_delete": 1, "busy_timeout": 5000}
    conns = [services.db.engine.connect() for _ in range(3)]
    try:
        assert len({id(c.connection.dbapi_connection) for c in conns}) == 3
        for conn in conns:
            assert conn.execute(text("SELECT vec_version()")).scalar().startswith("v")
            pragmas = {name: conn.execute(text(f"PRAGMA {name}")).scalar() for name in expected}
            assert pragmas == expected
    finally:
        for conn in conns:
            conn.close()


def test_a_write_session_holds_the_write_lock_from_its_first_statement(
    services: Services,
) -> None:
    with services.db.write() as s:
        s.execute(text("SELECT 1"))  # only a read, but BEGIN IMMEDIATE already took the lock
        other = connect_raw(services.db.path, services.keys)
        try:
            other.execute("PRAGMA busy_timeout = 0")
            with pytest.raises(sqlcipher.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()


def test_a_canary_written_through_the_orm_is_not_in_the_files(services: Services) -> None:
    canary = "CANARY-do-not-store-in-clear-7d1f"
    with services.db.write() as s:
        s.add(Workspace(slug="canary", public_id="wk_canary", name=canary, created_at=clock.now()))
    with services.db.read() as s:  # it was really written
        assert s.scalar(text("SELECT name FROM workspaces WHERE slug = 'canary'")) == canary
    db_path = services.db.path
    wal = Path(f"{db_path}-wal")
    snapshots = {"wal": wal.read_bytes(), "db before checkpoint": db_path.read_bytes()}
    assert snapshots["wal"]  # the row is in the WAL until a checkpoint
    services.db.checkpoint()
    snapshots["db after checkpoint"] = db_path.read_bytes()
    for name, raw in snapshots.items():
        assert canary.encode() not in raw, name
        assert canary.encode("utf-16-le") not in raw, name
    assert not snapshots["db after checkpoint"].startswith(b"SQLite format 3")


# -- migrations --------------------------------------------------------------------------


def test_head_names_the_newest_alembic_revision() -> None:
    assert ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head() == HEAD


def test_a_migrated_database_is_at_head_and_migrating_again_does_nothing(
    services: Services,
) -> None:
    assert current_revision(services.db) == HEAD
    assert migrate(services.db) is False


# -- stored secrets ----------------------------------------------------------------------

KEY = bytes(32)
OTHER_KEY = bytes([1]) * 32


def test_a_secret_decrypts_with_its_key_and_identity() -> None:
    stored = crypto.encrypt(KEY, "smtp-password", "smtp_config:1")
    assert "smtp-password" not in stored
    assert crypto.decrypt(KEY, stored, "smtp_config:1") == "smtp-password"
    assert crypto.encrypt(KEY, "smtp-password", "smtp_config:1") != stored  # fresh nonce


@pytest.mark.parametrize(
    ("key", "identity", "tamper"),
    [
        pytest.param(KEY, "smtp_config:2", lambda v: v, id="copied into another row"),
        pytest.param(OTHER_KEY, "smtp_config:1", lambda v: v, id="another master key"),
        pytest.param(KEY, "smtp_config:1", lambda v: v[:-4], id="truncated"),
        pytest.param(KEY, "smtp_config:1", lambda v: "v1:###", id="not base64"),
        pytest.param(KEY, "smtp_config:1", lambda v: "v2" + v[2:], id="unknown format"),
    ],
)
def test_a_secret_does_not_decrypt_otherwise(
    key: bytes, identity: str, tamper: Callable[[str], str]
) -> None:
    stored = tamper(crypto.encrypt(KEY, "smtp-password", "smtp_config:1"))
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(key, stored, identity)
