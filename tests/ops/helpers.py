"""Running the real ``chatmina`` command, and looking inside database files."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import sqlcipher3.dbapi2 as sqlcipher

from chatmina.settings import Settings
from chatmina.storage.keys import DB_FILE_NAME, KEY_FILE_NAME, Keys
from tests.conftest import MASTER_KEY, make_settings


def file_keyed_settings(tmp_path: Path, template_db: Path) -> Settings:
    """A migrated data directory whose key is <data dir>/master.key (as `chatmina key rotate`
    needs: a key given in the environment cannot be replaced by the command)."""
    data_dir = tmp_path / "keyed"
    data_dir.mkdir(mode=0o700)
    shutil.copyfile(template_db, data_dir / DB_FILE_NAME)
    (data_dir / KEY_FILE_NAME).write_text(MASTER_KEY + "\n")
    return make_settings(data_dir, CHATMINA_MASTER_KEY="")


def chatmina(
    data_dir: Path, *args: str, stdin: str | None = None, **env: str | None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI with a clean CHATMINA_* environment; an env value of None unsets it."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CHATMINA_")}
    wanted: dict[str, str | None] = {
        "CHATMINA_DATA_DIR": str(data_dir),
        "CHATMINA_MASTER_KEY": MASTER_KEY,
        "CHATMINA_PASSWORD_HASHING": "insecure-fast",
        **env,
    }
    environ.update({k: v for k, v in wanted.items() if v is not None})
    return subprocess.run(
        [sys.executable, "-m", "chatmina", *args],
        env=environ,
        cwd=data_dir.parent,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def keys_of(hex_key: str) -> Keys:
    return Keys.from_master(bytes.fromhex(hex_key), "test")


def query(path: Path, keys: Keys, sql: str) -> list[tuple[object, ...]]:
    """Rows from a database file opened read-only with ``keys``."""
    conn = sqlcipher.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        conn.execute(f"PRAGMA key = \"x'{keys.database.hex()}'\"")
        return list(conn.execute(sql).fetchall())
    finally:
        conn.close()


def query_rows(path: Path, keys: Keys, sql: str) -> list[dict[str, object]]:
    """Rows as dictionaries, column name to value."""
    conn = sqlcipher.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        conn.execute(f"PRAGMA key = \"x'{keys.database.hex()}'\"")
        cursor = conn.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        conn.close()
