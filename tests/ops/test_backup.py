"""Backups: consistent copies of a database that is being written, checked and restored."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import httpx
import pytest

from chatmina.accounts import service as accounts
from chatmina.settings import Settings
from chatmina.storage.backup import BackupError, backup_database, verify_backup
from chatmina.storage.keys import DB_FILE_NAME
from chatmina.ui.context import Services
from tests.conftest import MASTER_KEY, Personas
from tests.ops.helpers import assert_one_line_error, chatmina, digest, keys_of, query
from tests.server_helpers import RunningServer

OTHER_KEY = "7e" * 32


def test_a_backup_is_an_owner_only_file_that_verifies_with_the_key(
    services: Services, personas: Personas, tmp_path: Path
) -> None:
    target = backup_database(services.db.path, services.keys, tmp_path / "copy.db")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    report = verify_backup(target, services.keys)
    assert report.counts["users"] == 3
    assert report.counts["workspaces"] == 2
    assert report.counts["api_keys"] == 2
    # One self-contained file: opening it needs no -wal beside it.
    assert not Path(f"{target}-wal").exists()
    assert query(target, services.keys, "PRAGMA journal_mode") == [("delete",)]


def test_a_backup_does_not_open_with_another_key(services: Services, tmp_path: Path) -> None:
    target = backup_database(services.db.path, services.keys, tmp_path / "copy.db")
    with pytest.raises(BackupError, match="does not open with the master key"):
        verify_backup(target, keys_of(OTHER_KEY))


def test_a_backup_into_a_directory_gets_a_dated_name_and_replaces_nothing_on_failure(
    services: Services, tmp_path: Path
) -> None:
    made = backup_database(services.db.path, services.keys, tmp_path)
    assert made.parent == tmp_path
    assert made.name.startswith("chatmina-") and made.name.endswith("Z.db")
    with pytest.raises(BackupError, match="live database"):
        backup_database(services.db.path, services.keys, services.db.path)


def test_a_backup_taken_while_the_server_writes_holds_every_write_acknowledged_before_it(
    settings: Settings, services: Services, personas: Personas, tmp_path: Path
) -> None:
    services.db.close()
    live = settings.data_path / DB_FILE_NAME
    existing = {row[0] for row in query(live, keys_of(MASTER_KEY), "SELECT id FROM invitations")}
    acknowledged: list[int] = []
    stop = threading.Event()

    def invite(url: str) -> None:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {personas.a_key}"}, timeout=10
        ) as client:
            n = 0
            while not stop.is_set():
                n += 1
                response = client.post(
                    "/api/v1/invitations", json={"email": f"p{n}@example.com", "role": "agent"}
                )
                assert response.status_code == 201, response.text
                acknowledged.append(response.json()["id"])

    with RunningServer(settings.data_path, master_key=MASTER_KEY) as server:
        writer = threading.Thread(target=invite, args=(server.url,), daemon=True)
        writer.start()
        while len(acknowledged) < 20:
            stop.wait(0.01)
        before = list(acknowledged)
        result = chatmina(settings.data_path, "backup", "--to", str(tmp_path / "live.db"))
        after = list(acknowledged)
        stop.set()
        writer.join(10)
        assert result.returncode == 0, result.stderr
        assert "Backup written to" in result.stdout

    checked = chatmina(settings.data_path, "verify-backup", str(tmp_path / "live.db"))
    assert checked.returncode == 0, checked.stderr
    assert "3 users, 2 workspaces" in checked.stdout
    keys = keys_of(MASTER_KEY)
    rows = query(tmp_path / "live.db", keys, "SELECT id FROM invitations")
    in_backup = {row[0] for row in rows} - existing
    assert set(before) <= in_backup <= set(after)
    assert query(tmp_path / "live.db", keys, "PRAGMA integrity_check") == [("ok",)]


def test_backup_of_a_data_directory_without_a_database_creates_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "nothing-here"
    result = chatmina(empty, "backup")
    assert_one_line_error(result, "there is no database")
    assert not (empty / DB_FILE_NAME).exists()


@pytest.mark.parametrize("case", ["missing", "text", "other key", "truncated"])
def test_verify_backup_refuses_bad_files_in_one_line(
    settings: Settings, services: Services, tmp_path: Path, case: str
) -> None:
    path = tmp_path / "candidate.db"
    if case == "text":
        path.write_text("these are not the pages you are looking for\n" * 100)
    elif case == "other key":
        backup_database(services.db.path, services.keys, path)
        result = chatmina(
            settings.data_path, "verify-backup", str(path), CHATMINA_MASTER_KEY=OTHER_KEY
        )
        assert_one_line_error(result, "does not open with the master key", "CHATMINA_MASTER_KEY")
        return
    elif case == "truncated":
        backup_database(services.db.path, services.keys, path)
        with path.open("r+b") as f:
            f.truncate(path.stat().st_size // 2)
    before = digest(path) if path.exists() else None
    result = chatmina(settings.data_path, "verify-backup", str(path))
    assert_one_line_error(result, str(path))
    assert (digest(path) if path.exists() else None) == before


def test_restore_refuses_while_the_server_runs_and_changes_nothing(
    settings: Settings, services: Services, tmp_path: Path
) -> None:
    backup = backup_database(services.db.path, services.keys, tmp_path / "b.db")
    services.db.close()
    with RunningServer(settings.data_path, master_key=MASTER_KEY) as server:
        before = digest(settings.data_path / DB_FILE_NAME)
        result = chatmina(settings.data_path, "restore", str(backup))
        assert_one_line_error(result, "server is running", f"pid {server.pid}", "stop it")
        assert digest(settings.data_path / DB_FILE_NAME) == before
        assert not list(settings.data_path.glob("*.replaced-*"))


def test_restore_puts_the_backup_in_place_and_keeps_the_replaced_database(
    settings: Settings, services: Services, personas: Personas, tmp_path: Path
) -> None:
    backup = backup_database(services.db.path, services.keys, tmp_path / "b.db")
    accounts.create_workspace(services.db, personas.alice_id, "Made After The Backup")
    services.db.close()

    result = chatmina(settings.data_path, "restore", str(backup))
    assert result.returncode == 0, result.stderr
    replaced = list(settings.data_path.glob(DB_FILE_NAME + ".replaced-*"))
    assert len(replaced) == 1
    assert str(replaced[0]) in result.stdout
    keys = keys_of(MASTER_KEY)
    names = "SELECT name FROM workspaces"
    assert ("Made After The Backup",) not in query(settings.data_path / DB_FILE_NAME, keys, names)
    assert ("Made After The Backup",) in query(replaced[0], keys, names)
    assert stat.S_IMODE((settings.data_path / DB_FILE_NAME).stat().st_mode) == 0o600
    with RunningServer(settings.data_path, master_key=MASTER_KEY) as server:
        assert httpx.get(server.url + "/healthz").status_code == 200


def test_restore_refuses_a_backup_made_with_another_key(
    settings: Settings, services: Services, tmp_path: Path
) -> None:
    backup = backup_database(services.db.path, services.keys, tmp_path / "b.db")
    services.db.close()
    before = digest(settings.data_path / DB_FILE_NAME)
    result = chatmina(settings.data_path, "restore", str(backup), CHATMINA_MASTER_KEY=OTHER_KEY)
    assert_one_line_error(result, "does not open with the master key")
    assert digest(settings.data_path / DB_FILE_NAME) == before
    assert sorted(os.listdir(settings.data_path)) == sorted(
        p for p in os.listdir(settings.data_path) if not p.startswith(".")
    )


def test_restore_refuses_a_live_database_whose_newest_rows_are_in_its_log(
    settings: Settings, services: Services, personas: Personas, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    accounts.create_workspace(services.db, personas.alice_id, "Only In The Log")
    live = services.db.path
    assert Path(f"{live}-wal").stat().st_size > 0  # the connection pool is still open
    result = chatmina(other, "restore", str(live))
    assert_one_line_error(result, "write-ahead log", "chatmina backup")
    assert not (other / DB_FILE_NAME).exists()
