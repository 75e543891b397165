"""Consistent online backups of the encrypted database, their checks, and the daily schedule.

A backup goes through SQLite's backup API in one step, so it is one read transaction: a
consistent snapshot even while the server writes (in WAL mode writers do not wait for it).
The copy is encrypted with the same database key, written to a temporary file beside its
destination, flushed to disk and renamed into place, so a backup file is either complete
or absent. It is switched to a rollback journal, so it is one self-contained file.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import sqlcipher3.dbapi2 as sqlcipher

from chatmina import clock
from chatmina.errors import UserError
from chatmina.storage.db import _cipher_log_off, _key_pragma, check_key, connect_raw, load_vec0
from chatmina.storage.keys import DB_FILE_NAME, KeyError_, Keys

log = logging.getLogger(__name__)

BACKUP_DIR_NAME = "backups"
# Deleted data must be gone from every copy Chatmina keeps within the retention promise.
MAX_AGE = dt.timedelta(days=30)
_NAME = re.compile(r"^chatmina-(\d{8}T\d{6})Z\.db$")
_NAME_TIME = "%Y%m%dT%H%M%S"
# The temporary file of a backup in progress; one this old was cut short by a crash.
_UNFINISHED = re.compile(r"^\.chatmina-\d{8}T\d{6}Z\.db\.[0-9a-f]{8}\.tmp$")
UNFINISHED_AFTER = dt.timedelta(hours=6)
# The tables whose row counts a check reports, when they exist in the file.
COUNTED_TABLES = (
    "users",
    "workspaces",
    "memberships",
    "api_keys",
    "articles",
    "chunks",
    "conversations",
    "messages",
    "audit_events",
)


class BackupError(UserError):
    type = "backup-failed"
    title = "Backup failed"


@dataclass(frozen=True)
class BackupReport:
    path: Path
    size_bytes: int
    revision: str | None
    counts: dict[str, int]


def backup_dir(data_dir: Path) -> Path:
    return data_dir / BACKUP_DIR_NAME


def backup_name(when: dt.datetime) -> str:
    return f"chatmina-{when.astimezone(dt.UTC).strftime(_NAME_TIME)}Z.db"


def _fsync_path(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, (os.O_RDONLY | os.O_DIRECTORY) if directory else os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup_database(db_path: Path, keys: Keys, target: Path) -> Path:
    """Write a consistent, encrypted copy of the database at ``db_path`` to ``target``.

    ``target`` may be a directory (the copy gets a dated name inside it) and may already
    exist: it is replaced only once the new copy is complete.
    """
    if not db_path.is_file():
        raise BackupError(f"there is no database at {db_path}")
    check_key(db_path, keys)
    if target.is_dir():
        target = target / backup_name(clock.now())
    target = target.absolute()
    live = db_path.resolve()
    if target.resolve() in (live, Path(f"{live}-wal"), Path(f"{live}-shm")):
        raise BackupError(f"{target} is the live database; choose another file")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a directory")
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        # Created here, not by SQLite, so a backup is owner-only whatever the umask.
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise BackupError(f"cannot write to {target.parent}: {exc.strerror}") from None
    try:
        source = connect_raw(db_path, keys)
        try:
            copy = sqlcipher.connect(str(tmp), isolation_level=None, check_same_thread=False)
            try:
                copy.execute(_key_pragma(keys))  # the same key: SQLCipher backs up page for page
                source.backup(copy)  # all pages in one step: one snapshot
                copy.execute("PRAGMA journal_mode = DELETE")
            finally:
                copy.close()
        finally:
            source.close()
        _fsync_path(tmp)
        os.replace(tmp, target)
        _fsync_path(target.parent, directory=True)
    except sqlcipher.Error as exc:
        raise BackupError(f"the backup to {target} failed: {exc}") from None
    except OSError as exc:
        raise BackupError(f"the backup to {target} failed: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


def open_checked(path: Path, keys: Keys) -> sqlcipher.Connection:
    """A read-only connection to a database file that must open with ``keys``."""
    if not path.exists():
        raise BackupError(f"{path} does not exist")
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    try:
        check_key(path, keys)
    except KeyError_:
        raise BackupError(
            f"{path} does not open with the master key from {keys.source}: it was made with "
            "another key, it is damaged, or it is not a Chatmina database"
        ) from None
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from None
    # immutable: a check never writes, not even a journal, and works on read-only media.
    uri = path.resolve().as_uri() + "?immutable=1"
    conn = sqlcipher.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    conn.execute(_key_pragma(keys))
    load_vec0(conn)  # integrity_check visits the vector tables too
    return conn


def verify_backup(path: Path, keys: Keys) -> BackupReport:
    """Open a backup with ``keys``, check every page and the structure, count the rows."""
    conn = open_checked(path, keys)
    try:
        with _cipher_log_off():
            damaged = [row[0] for row in conn.execute("PRAGMA cipher_integrity_check")]
            problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if damaged or problems != ["ok"]:
            shown = "; ".join((damaged + [p for p in problems if p != "ok"])[:3])
            raise BackupError(f"{path} is damaged: {shown}")
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if "alembic_version" not in tables:
            raise BackupError(f"{path} opens with the key but is not a Chatmina database")
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        counts = {
            name: int(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])
            for name in COUNTED_TABLES
            if name in tables
        }
    except sqlcipher.DatabaseError as exc:
        raise BackupError(f"{path} is damaged: {exc}") from None
    finally:
        conn.close()
    return BackupReport(path, path.stat().st_size, revision[0] if revision else None, counts)


# -- the daily schedule -------------------------------------------------------------------


def scheduled_backups(directory: Path) -> list[tuple[dt.datetime, Path]]:
    """Backups Chatmina named itself in ``directory``, newest first; other files are ignored."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _NAME.match(path.name)
        if match and path.is_file():
            taken = dt.datetime.strptime(match.group(1), _NAME_TIME).replace(tzinfo=dt.UTC)
            found.append((taken, path))
    return sorted(found, reverse=True)


def prune(directory: Path, keep: int, now: dt.datetime) -> list[Path]:
    """Delete all but the ``keep`` newest backups, every one older than MAX_AGE, and what a
    backup cut short by a crash left behind."""
    removed = []
    for index, (taken, path) in enumerate(scheduled_backups(directory)):
        if index >= max(keep, 0) or now - taken > MAX_AGE:
            path.unlink(missing_ok=True)
            removed.append(path)
    if directory.is_dir():
        for path in directory.iterdir():
            if _UNFINISHED.match(path.name) and _age(path, now) > UNFINISHED_AFTER:
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def _age(path: Path, now: dt.datetime) -> dt.timedelta:
    return now - dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)


def run_daily_backup(data_dir: Path, keys: Keys, keep: int) -> Path | None:
    """Take today's backup unless there is one already, then prune; returns the new file.

    Called every hour by the scheduler, so a server that was down at the usual time still
    gets its daily backup when it comes back. ``keep=0`` turns backups off; old ones are
    still pruned, so the 30-day promise holds either way.
    """
    now = clock.now()
    directory = backup_dir(data_dir)
    made = None
    existing = scheduled_backups(directory)
    if keep > 0 and not any(taken.date() == now.date() for taken, _ in existing):
        directory.mkdir(mode=0o700, exist_ok=True)
        made = backup_database(data_dir / DB_FILE_NAME, keys, directory / backup_name(now))
    prune(directory, keep, now)
    return made


def daily_backup_job(data_dir: Path, keys: Keys, keep: int) -> None:
    """The scheduler's hourly call: a failed backup is logged in one line, never raised."""
    try:
        made = run_daily_backup(data_dir, keys, keep)
    except (UserError, KeyError_) as exc:
        log.error("daily backup failed: %s", exc)
        return
    if made is not None:
        log.info("daily backup written to %s", made, extra={"backup": str(made)})
