"""Master-key rotation: the database, every stored secret and every backup move to a new key.

What a key protects is registered here, so rotation finds it all: encrypted columns
(:func:`register_encrypted_column`), encrypted files under the data directory
(:func:`register_encrypted_files`) and rows holding keyed hashes or signatures that die with
the old signing key (:func:`register_signed_rows`). A feature that adds an encrypted column
registers it next to its models.

Crash safety. The new key is written to ``<data dir>/master.key.new`` before anything else
changes: that file is the rotation's journal. The database is re-encrypted in a copy, which
one rename puts in place (the commit point); then files and backups move to the new key one
by one, each by its own rename; the key file is swapped last. Whatever the moment of a
crash, every item opens with either the old key or the one in the journal, and running
``chatmina key rotate`` again finishes the rotation: it looks at what each item opens with
and carries on from there. Until then the server refuses to start (the old key no longer
opens the database), so nothing is written under a half-changed key.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlcipher3.dbapi2 as sqlcipher

from chatmina import clock
from chatmina.errors import UserError
from chatmina.settings import Settings
from chatmina.storage import crypto
from chatmina.storage.backup import _fsync_path, backup_dir
from chatmina.storage.db import _cipher_log_off, _key_pragma, check_key, connect_raw, load_vec0
from chatmina.storage.keys import (
    DB_FILE_NAME,
    KEY_FILE_NAME,
    KeyError_,
    Keys,
    _parse_hex,
    key_source,
    load_keys,
)

JOURNAL_NAME = KEY_FILE_NAME + ".new"
OLD_KEY_NAME = KEY_FILE_NAME + ".old"


@dataclass(frozen=True)
class EncryptedColumn:
    table: str
    column: str
    identity: Callable[[Mapping[str, Any]], str]  # the row -> its associated data


@dataclass(frozen=True)
class EncryptedFiles:
    directory: str  # under the data directory
    suffix: str
    identity: Callable[[str], str]  # the file name without suffix -> its associated data


@dataclass(frozen=True)
class SignedRows:
    table: str
    statement: str  # may use :now
    effect: str  # what the admin is told, after the count


_COLUMNS: list[EncryptedColumn] = []
_FILES: list[EncryptedFiles] = []
_SIGNED: list[SignedRows] = []


def register_encrypted_column(
    table: str, column: str, identity: Callable[[Mapping[str, Any]], str]
) -> None:
    _COLUMNS.append(EncryptedColumn(table, column, identity))


def register_encrypted_files(directory: str, suffix: str, identity: Callable[[str], str]) -> None:
    _FILES.append(EncryptedFiles(directory, suffix, identity))


def register_signed_rows(table: str, statement: str, effect: str) -> None:
    _SIGNED.append(SignedRows(table, statement, effect))


# What exists today. Identities must match the features' own (mail/service.py,
# knowledge/embedding_sets.py, assistant/service.py, conversations/widget_settings.py,
# functions/service.py and calls.py);
# the rotation tests decrypt each one afterwards.
register_encrypted_column("smtp_config", "password_encrypted", lambda _row: "smtp:password")
register_encrypted_column(
    "embedding_sets", "config_encrypted", lambda row: f"embedding_sets:{row['id']}"
)
register_encrypted_column(
    "assistant_settings",
    "llm_api_key_encrypted",
    lambda row: f"assistant_settings:{row['workspace_id']}",
)
register_encrypted_column(
    "widget_settings",
    "identity_secret_encrypted",
    lambda row: f"widget_settings:{row['workspace_id']}",
)
register_encrypted_column(
    "webhook_endpoints",
    "secret_encrypted",
    lambda row: f"webhook_endpoints:{row['public_id']}:secret",
)
register_encrypted_column(
    "webhook_endpoints",
    "previous_secret_encrypted",
    lambda row: f"webhook_endpoints:{row['public_id']}:previous_secret",
)
register_encrypted_column(
    "ai_functions", "secret_encrypted", lambda row: f"ai_functions:{row['id']}:secret"
)
register_encrypted_column(
    "ai_functions",
    "previous_secret_encrypted",
    lambda row: f"ai_functions:{row['id']}:previous_secret",
)
register_encrypted_column(
    "ai_functions", "headers_encrypted", lambda row: f"ai_functions:{row['id']}:headers"
)
register_encrypted_column(
    "function_calls",
    "arguments_encrypted",
    lambda row: f"function_calls:{row['message_id']}:{row['attempt']}:arguments",
)
register_encrypted_column(
    "function_calls",
    "response_encrypted",
    lambda row: f"function_calls:{row['message_id']}:{row['attempt']}:response",
)
register_encrypted_files("outbox", ".eml.enc", lambda name: "outbox:" + name)
register_signed_rows("login_sessions", "DELETE FROM login_sessions", "login sessions ended")
register_signed_rows(
    "api_keys",
    "UPDATE api_keys SET revoked_at = :now WHERE revoked_at IS NULL",
    "API keys revoked (create new ones)",
)


@dataclass
class Rotation:
    new_key_hex: str
    key_file: Path | None  # where the new key was written; None: the admin must store it
    effects: list[str] = field(default_factory=list)
    files: int = 0
    backups: int = 0
    skipped: list[Path] = field(default_factory=list)  # opened with neither key
    resumed: bool = False


class RotationError(UserError):
    type = "key-rotation-failed"
    title = "Key rotation failed"


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, owner-only, flushed to disk."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_path(path.parent, directory=True)


def _opens(path: Path, keys: Keys) -> bool:
    try:
        check_key(path, keys)
    except KeyError_:
        return False
    return True


def _connect(path: Path, keys: Keys) -> sqlcipher.Connection:
    conn = sqlcipher.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute(_key_pragma(keys))
    load_vec0(conn)
    return conn


def _tables(conn: sqlcipher.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _reencrypt_rows(conn: sqlcipher.Connection, old: Keys, new: Keys, rotation: Rotation) -> None:
    tables = _tables(conn)
    now = clock.now().replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    conn.execute("BEGIN IMMEDIATE")
    try:
        for spec in _COLUMNS:
            if spec.table not in tables:
                continue
            cursor = conn.execute(f'SELECT rowid AS _rowid, * FROM "{spec.table}"')
            names = [d[0] for d in cursor.description]
            for values in cursor.fetchall():
                row = dict(zip(names, values, strict=True))
                stored = row[spec.column]
                if not stored:
                    continue
                identity = spec.identity(row)
                plain = crypto.decrypt(old.secrets, stored, identity)
                conn.execute(
                    f'UPDATE "{spec.table}" SET "{spec.column}" = ? WHERE rowid = ?',
                    (crypto.encrypt(new.secrets, plain, identity), row["_rowid"]),
                )
        for signed in _SIGNED:
            if signed.table in tables:
                changed = conn.execute(signed.statement, {"now": now}).rowcount
                rotation.effects.append(f"{changed} {signed.effect}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _rekey_copy(source: Path, target: Path, old: Keys, new: Keys, rows: Rotation | None) -> None:
    """Copy the self-contained database ``source`` to ``target`` under the new key."""
    target.unlink(missing_ok=True)
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    shutil.copyfile(source, target)
    conn = _connect(target, old)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
        if rows is not None:
            _reencrypt_rows(conn, old, new, rows)
        conn.execute(f"PRAGMA rekey = \"x'{new.database.hex()}'\"")
    finally:
        conn.close()
    _fsync_path(target)
    if not _opens(target, new):
        raise RotationError(f"the re-encrypted copy {target} does not open with the new key")


def _rotate_database(db_path: Path, old: Keys, new: Keys, rotation: Rotation) -> None:
    # Fold the WAL in: from here the file alone holds every committed row, and no -wal of
    # the old key can sit beside the new file after the rename.
    conn = connect_raw(db_path, old)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode = DELETE")
    finally:
        conn.close()
    copy = db_path.with_name(db_path.name + ".rekeying")
    try:
        _rekey_copy(db_path, copy, old, new, rotation)
        os.replace(copy, db_path)  # the commit point
        _fsync_path(db_path.parent, directory=True)
    finally:
        copy.unlink(missing_ok=True)


def _rotate_files(data_dir: Path, old: Keys, new: Keys, rotation: Rotation) -> None:
    for spec in _FILES:
        directory = data_dir / spec.directory
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*" + spec.suffix)):
            identity = spec.identity(path.name.removesuffix(spec.suffix))
            stored = path.read_text()
            try:
                plain = crypto.decrypt(old.secrets, stored, identity)
            except crypto.DecryptionError:
                try:
                    crypto.decrypt(new.secrets, stored, identity)
                except crypto.DecryptionError:
                    rotation.skipped.append(path)
                continue  # already moved before an interruption
            _write_private(path, crypto.encrypt(new.secrets, plain, identity))
            rotation.files += 1


def _database_copies(data_dir: Path) -> list[Path]:
    """Backups and replaced databases: copies of the data that the old key still opens."""
    found = sorted(data_dir.glob(DB_FILE_NAME + ".replaced-*"))
    found = [p for p in found if not p.name.endswith(("-wal", "-shm", "-journal"))]
    directory = backup_dir(data_dir)
    if directory.is_dir():
        found += sorted(p for p in directory.glob("*.db") if p.is_file())
    return found


def _rotate_copies(data_dir: Path, old: Keys, new: Keys, rotation: Rotation) -> None:
    for path in _database_copies(data_dir):
        if _opens(path, new):
            continue
        if not _opens(path, old) or Path(f"{path}-wal").exists():
            # A copy with its own WAL (a damaged database set aside by restore) would pair
            # a re-encrypted file with old-key frames: it is reported, not touched.
            rotation.skipped.append(path)
            continue
        copy = path.with_name(f".{path.name}.rekeying")
        try:
            _rekey_copy(path, copy, old, new, None)
            os.replace(copy, path)
        finally:
            copy.unlink(missing_ok=True)
        rotation.backups += 1
    _fsync_path(data_dir, directory=True)


def _same(a: Keys, b: Keys) -> bool:
    return secrets.compare_digest(a.database, b.database)


def rotate_master_key(settings: Settings) -> Rotation:
    """Move everything to a new master key (or finish an interrupted rotation).

    The caller holds the data directory exclusively. With ``<data dir>/master.key`` the new
    key replaces it; with a key from the environment the journal stays until
    :func:`forget_new_key`, once the admin has been shown the new key.
    """
    data_dir = settings.data_path
    db_path = data_dir / DB_FILE_NAME
    if not db_path.is_file():
        raise RotationError(f"there is no database in {data_dir}")
    old = load_keys(settings, create=False)
    journal = data_dir / JOURNAL_NAME
    resumed = journal.exists()
    if resumed:
        new_hex = _parse_hex(journal.read_text(), str(journal)).hex()
    else:
        check_key(db_path, old)  # the current key must open the database before anything
        new_hex = secrets.token_hex(32)
        _write_private(journal, new_hex + "\n")
    new = Keys.from_master(bytes.fromhex(new_hex), str(journal))
    from_file = not settings.master_key
    rotation = Rotation(new_hex, data_dir / KEY_FILE_NAME if from_file else None, resumed=resumed)

    with _cipher_log_off():
        if _same(old, new) or _opens(db_path, new):
            pass  # the database moved before an interruption
        elif _opens(db_path, old):
            _rotate_database(db_path, old, new, rotation)
        else:
            raise KeyError_(
                f"{db_path} opens neither with the master key from {key_source(settings)} "
                f"nor with the new key in {journal}"
            )
        _rotate_files(data_dir, old, new, rotation)
        _rotate_copies(data_dir, old, new, rotation)

    if from_file:
        key_path = data_dir / KEY_FILE_NAME
        old_copy = data_dir / OLD_KEY_NAME
        # The old key stays in master.key.old until the new one is in place.
        _write_private(old_copy, key_path.read_text())
        os.replace(journal, key_path)
        _fsync_path(data_dir, directory=True)
        old_copy.unlink()
    return rotation


def forget_new_key(settings: Settings) -> None:
    """Remove the journal once the admin has the new key (key from the environment)."""
    (settings.data_path / JOURNAL_NAME).unlink(missing_ok=True)
