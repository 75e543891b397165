"""Backup of a 1 GB database through the SQLite backup API, and its verification.

Target (the product issue): at most 15 s for 1 GB. The database is a migrated Chatmina
database plus 1 GiB of blobs in a scratch table, built in a temporary directory without
a journal (fast to build; the backup reads it like any other) and deleted afterwards.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import sqlcipher3.dbapi2 as sqlcipher

from chatmina.app import build_services
from chatmina.settings import load_settings
from chatmina.storage.backup import backup_database, verify_backup
from chatmina.storage.keys import Keys
from tests.perf.common import Result

TARGET_S = 15.0
BLOB_MB = 1
BLOBS = 1024  # 1 GiB


def _build(data_dir: Path) -> tuple[Path, Keys, float]:
    settings = load_settings(
        {
            "CHATMINA_DATA_DIR": str(data_dir),
            "CHATMINA_MASTER_KEY": "5c" * 32,
            "CHATMINA_PASSWORD_HASHING": "insecure-fast",
        }
    )
    services = build_services(settings)
    services.db.close()
    began = time.perf_counter()
    conn = sqlcipher.connect(str(services.db.path), isolation_level=None)
    conn.execute(f"PRAGMA key = \"x'{services.keys.database.hex()}'\"")
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("CREATE TABLE scratch (body BLOB)")
    blob = os.urandom(BLOB_MB << 20)
    conn.execute("BEGIN")
    for _ in range(BLOBS):
        conn.execute("INSERT INTO scratch VALUES (?)", (blob,))
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode = WAL")  # as the server leaves it
    conn.close()
    return services.db.path, services.keys, time.perf_counter() - began


def run() -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="chatmina-bench-") as scratch:
        db_path, keys, built_in = _build(Path(scratch) / "data")
        size_gb = db_path.stat().st_size / 1e9
        began = time.perf_counter()
        target = backup_database(db_path, keys, Path(scratch) / "backup.db")
        took = time.perf_counter() - began
        began = time.perf_counter()
        verify_backup(target, keys)
        verified_in = time.perf_counter() - began
    return [
        Result(
            "backup_1gb_s",
            took,
            TARGET_S,
            "s",
            extra={"database_gb": round(size_gb, 2), "built_in_s": round(built_in, 1)},
        ),
        Result(
            "verify_backup_1gb_s", verified_in, None, "s", extra={"database_gb": round(size_gb, 2)}
        ),
    ]
