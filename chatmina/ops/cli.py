"""The operations commands: backup, verify-backup, restore, key rotate/info, doctor.

Registered on the ``chatmina`` group by :func:`register`. Heavy imports stay inside the
commands so ``chatmina serve`` does not pay for them at start-up.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import click

from chatmina.cli import _settings, friendly_errors
from chatmina.errors import UserError
from chatmina.settings import Settings
from chatmina.storage.keys import DB_FILE_NAME, KEY_FILE_NAME, Keys, load_keys

ROTATION_WARNING = """\
This moves the database, stored secrets and the backups in {backups} to a new master key.
  - Everyone is logged out, and every API key stops working: create new ones.
  - Links already emailed (invitations, password resets) stop working.
  - Backups copied elsewhere still open only with the old key."""


def _existing_keys(settings: Settings) -> Keys:
    """The key of an existing installation; never creates a key or a database."""
    if not (settings.data_path / DB_FILE_NAME).is_file():
        raise UserError(f"there is no database in {settings.data_path}")
    return load_keys(settings, create=False)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in counts.items()) or "no tables"


@click.command()
@click.option(
    "--to",
    "target",
    type=click.Path(path_type=Path),
    default=None,
    help="File or directory to write the backup to (default: <data dir>/backups/).",
)
@click.pass_context
@friendly_errors
def backup(ctx: click.Context, target: Path | None) -> None:
    """Write a consistent, encrypted copy of the database, even while the server runs."""
    from chatmina.ops import lock
    from chatmina.storage.backup import backup_database, backup_dir

    settings = _settings(ctx)
    keys = _existing_keys(settings)
    lock.hold_shared(settings.data_path)
    if target is None:
        target = backup_dir(settings.data_path)
        target.mkdir(mode=0o700, exist_ok=True)
    source = settings.data_path / DB_FILE_NAME
    # Nothing is printed while the copy runs (~10 s per GB here): say what to expect.
    click.echo(f"Backing up {_megabytes(source)} MB…", err=True)
    began = time.perf_counter()
    path = backup_database(source, keys, target)
    size = path.stat().st_size / 1e6
    click.echo(f"Backup written to {path} ({size:.1f} MB in {time.perf_counter() - began:.1f} s).")
    click.echo(f"It opens only with the master key from {keys.source}: keep that key elsewhere.")


@click.command("verify-backup")
@click.argument("file", type=click.Path(path_type=Path))
@click.pass_context
@friendly_errors
def verify_backup(ctx: click.Context, file: Path) -> None:
    """Open a backup with the master key, check every page, and count its rows."""
    from chatmina.storage.backup import verify_backup as verify

    settings = _settings(ctx)
    report = verify(file, load_keys(settings, create=False))
    click.echo(f"{file}: ok")
    click.echo(f"  size: {report.size_bytes / 1e6:.1f} MB, schema revision {report.revision}")
    click.echo("  integrity: every page decrypts and authenticates; structure ok")
    click.echo(f"  rows: {_counts(report.counts)}")


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.pass_context
@friendly_errors
def restore(ctx: click.Context, file: Path) -> None:
    """Replace the database with a backup (the server must be stopped)."""
    from chatmina.ops import lock
    from chatmina.storage.restore import restore_backup

    settings = _settings(ctx)
    with lock.exclusive(settings.data_path, "restore a backup"):
        restored = restore_backup(settings.data_path, load_keys(settings, create=False), file)
    click.echo(f"Restored {file} into {settings.data_path / DB_FILE_NAME}.")
    click.echo(f"  rows: {_counts(restored.report.counts)}")
    if restored.replaced is not None:
        click.echo(f"The previous database is kept as {restored.replaced}.")
        click.echo("Delete it once you no longer need it.")


@click.group()
def key() -> None:
    """The master key: where it comes from, and rotating it."""


def _describe_source(settings: Settings) -> str:
    source = settings.sources.get("master_key") if settings.master_key else None
    if source == "CHATMINA_MASTER_KEY_FILE":
        return f"the file {os.environ.get(source, '?')} (CHATMINA_MASTER_KEY_FILE)"
    if source:
        return f"the environment variable {source}"
    return f"{settings.data_path / KEY_FILE_NAME} (a file in the data directory)"


def _fingerprint(settings: Settings) -> str:
    text = settings.master_key or (settings.data_path / KEY_FILE_NAME).read_text()
    master = bytes.fromhex(text.strip())
    # Enough to tell two keys apart, nothing about the key itself.
    return hashlib.sha256(b"chatmina:fingerprint:" + master).hexdigest()[:16]


@key.command("info")
@click.pass_context
@friendly_errors
def key_info(ctx: click.Context) -> None:
    """Say where the master key comes from and whether it opens the database."""
    from chatmina.storage.db import check_key
    from chatmina.storage.keys import KeyError_

    settings = _settings(ctx)
    db_path = settings.data_path / DB_FILE_NAME
    if not settings.master_key and not (settings.data_path / KEY_FILE_NAME).exists():
        click.echo(f"Master key: none yet; {_describe_source(settings)} is created on first start.")
        return
    keys = load_keys(settings, create=False)
    click.echo(f"Master key: {_describe_source(settings)}")
    click.echo(f"Fingerprint: {_fingerprint(settings)}")
    if not db_path.exists():
        click.echo(f"Database: none yet in {settings.data_path}")
    else:
        try:
            check_key(db_path, keys)
        except KeyError_:
            click.echo(f"Database: {db_path} does NOT open with this key")
            sys.exit(1)
        click.echo(f"Database: {db_path} opens with this key")
    if not settings.master_key:
        click.echo("The key sits next to the data: keep a copy somewhere else, away from backups.")
    click.echo("Without this key the database and its backups cannot be read by anyone.")


@key.command("rotate")
@click.option("--yes", is_flag=True, help="Rotate without asking for confirmation.")
@click.pass_context
@friendly_errors
def key_rotate(ctx: click.Context, yes: bool) -> None:
    """Re-encrypt everything with a new master key (the server must be stopped)."""
    from chatmina.ops import lock
    from chatmina.storage import rekey
    from chatmina.storage.backup import backup_dir

    settings = _settings(ctx)
    _existing_keys(settings)
    resuming = (settings.data_path / rekey.JOURNAL_NAME).exists()
    with lock.exclusive(settings.data_path, "rotate the key"):
        if not resuming and not yes:
            click.echo(ROTATION_WARNING.format(backups=settings.data_path / "backups"), err=True)
            if not sys.stdin.isatty():
                raise UserError("add --yes to rotate the key without a prompt")
            click.confirm("Rotate the master key now?", abort=True, err=True)
        click.echo(
            f"Re-encrypting {_megabytes(settings.data_path / DB_FILE_NAME)} MB of data…", err=True
        )
        rotation = rekey.rotate_master_key(settings)
        _audit(settings, rotation.new_key_hex, rotation.effects)
    if rotation.resumed:
        click.echo("Finished the key rotation that was interrupted.")
    for effect in rotation.effects:
        click.echo(f"  {effect}")
    click.echo(f"  {rotation.files} encrypted files and {rotation.backups} backups re-encrypted")
    for path in rotation.skipped:
        click.echo(f"  left as is (opens with neither key): {path}", err=True)
    if rotation.key_file is not None:
        click.echo(f"The new master key is in {rotation.key_file}; the old one no longer opens")
        click.echo(f"anything in {settings.data_path}. Replace every copy of the old key")
        click.echo(f"(backups in {backup_dir(settings.data_path)} were re-encrypted).")
        return
    click.echo("")
    click.echo("New master key (shown once; the old one no longer opens the database):")
    click.echo("")
    click.echo(f"    {rotation.new_key_hex}")
    click.echo("")
    source = settings.sources.get("master_key", "CHATMINA_MASTER_KEY")
    click.echo(f"Put it in {source} before the next start: until then Chatmina refuses to")
    click.echo("start. Lose it and the data is lost.")
    rekey.forget_new_key(settings)


def _audit(settings: Settings, new_key_hex: str, effects: list[str]) -> None:
    import chatmina.storage.models  # noqa: F401 - every table, for the ORM's foreign keys
    from chatmina.privacy import service as audit
    from chatmina.storage.db import Database

    db = Database.open(settings.data_path, Keys.from_master(bytes.fromhex(new_key_hex), "new"))
    try:
        audit.record(db, "key.rotated", detail="; ".join(effects))
        db.checkpoint()
    finally:
        db.close()


@click.command()
@click.pass_context
@friendly_errors
def doctor(ctx: click.Context) -> None:
    """Check the data directory, key, database, disk, SMTP and LLM; print what was found."""
    from chatmina.ops.doctor import FAIL, run_checks

    findings = run_checks(_settings(ctx))
    width = max(len(f.check) for f in findings)
    for finding in findings:
        click.echo(f"{finding.status.ljust(4)}  {finding.check.ljust(width)}  {finding.detail}")
    failed = sum(f.status == FAIL for f in findings)
    if failed:
        click.echo(f"{failed} problem{'s' if failed > 1 else ''} found.", err=True)
        sys.exit(1)


def register(group: click.Group) -> None:
    for command in (backup, verify_backup, restore, key, doctor):
        group.add_command(command)


def _megabytes(path: Path) -> str:
    """The database's size with its write-ahead log, for "this will take a while" lines."""
    wal = path.with_name(path.name + "-wal")
    size = sum(p.stat().st_size for p in (path, wal) if p.exists())
    return f"{size / 1e6:,.1f}"
