"""Putting a backup back in place of the live database, keeping the replaced one aside.

The caller makes sure nothing else uses the data directory (``chatmina.ops.lock``). At
every moment there is a complete ``chatmina.db``: the backup is copied beside it first, the
current file gets a second name (``chatmina.db.replaced-<time>``) by a hard link, and one
rename swaps the new file in.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import sqlcipher3.dbapi2 as sqlcipher

from chatmina import clock
from chatmina.storage.backup import BackupError, BackupReport, _fsync_path, verify_backup
from chatmina.storage.db import check_key, connect_raw
from chatmina.storage.keys import DB_FILE_NAME, KeyError_, Keys
from chatmina.storage.migrate import MIGRATIONS_DIR


@dataclass(frozen=True)
class Restored:
    report: BackupReport
    replaced: Path | None  # where the previous database now is


def _known_revisions() -> set[str]:
    return {path.name.split("_", 1)[0] for path in (MIGRATIONS_DIR / "versions").glob("*.py")}


def _settle(db_path: Path, keys: Keys) -> bool:
    """Fold the WAL into the database file so it is one self-contained file; False if the
    current key cannot open it (then its -wal and -shm move along with it)."""
    try:
        check_key(db_path, keys)
        conn = connect_raw(db_path, keys)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("PRAGMA journal_mode = DELETE")
        finally:
            conn.close()
    except (KeyError_, sqlcipher.DatabaseError):
        return False
    return True


def restore_backup(data_dir: Path, keys: Keys, source: Path) -> Restored:
    wal = Path(f"{source}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        # Its newest rows are still in the log, which a copy of the file alone would lose.
        raise BackupError(
            f"{source} has a write-ahead log beside it (a running or crashed database): "
            "stop its server, or take a copy with chatmina backup, and restore that"
        )
    report = verify_backup(source, keys)
    if report.revision not in _known_revisions():
        raise BackupError(
            f"{source} was made by a newer Chatmina (schema {report.revision}); "
            "restore it with that version"
        )
    db_path = data_dir / DB_FILE_NAME
    if source.resolve() == db_path.resolve():
        raise BackupError(f"{source} is the live database")
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    incoming = data_dir / f".{DB_FILE_NAME}.restoring-{secrets.token_hex(4)}"
    try:
        os.close(os.open(incoming, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        shutil.copyfile(source, incoming)
        _fsync_path(incoming)
        replaced = None
        if db_path.exists():
            stamp = clock.now().astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            replaced = data_dir / f"{DB_FILE_NAME}.replaced-{stamp}"
            settled = _settle(db_path, keys)
            os.link(db_path, replaced)
            if not settled:
                for suffix in ("-wal", "-shm"):
                    side = Path(f"{db_path}{suffix}")
                    if side.exists():
                        side.rename(Path(f"{replaced}{suffix}"))
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        os.replace(incoming, db_path)
        _fsync_path(data_dir, directory=True)
    except OSError as exc:
        raise BackupError(f"restoring {source} failed: {exc.strerror or exc}") from None
    finally:
        incoming.unlink(missing_ok=True)
    return Restored(report, replaced)
