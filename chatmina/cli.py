"""The ``chatmina`` command. With no sub-command it serves.

Errors a user can cause (a wrong key, a bad flag, an email already taken) print one line
on stderr and exit non-zero; only bugs print a traceback.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from chatmina import __version__
from chatmina.errors import UserError
from chatmina.knowledge import cli as knowledge_cli
from chatmina.settings import Settings, SettingsError, load_settings
from chatmina.storage.keys import KeyError_

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"chatmina: {message}", err=True)
    sys.exit(code)


def friendly_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SettingsError as exc:
            _fail(f"configuration error: {exc}", 2)
        except KeyError_ as exc:
            _fail(f"key error: {exc}", 1)
        except UserError as exc:
            _fail(exc.message, 1)

    return wrapper  # type: ignore[return-value]


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    base: dict[str, Any] = ctx.obj or {}
    return load_settings(**{**base, **{k: v for k, v in overrides.items() if v is not None}})


def _setup_logging(settings: Settings) -> None:
    from chatmina.logs import setup_logging

    setup_logging(settings.log_level, settings.log_format)


def _services(settings: Settings) -> Any:
    from chatmina.app import build_services
    from chatmina.ops import lock

    # Shared: restore and key rotation wait for, and refuse to run alongside, this command.
    lock.hold_shared(settings.data_path)
    return build_services(settings)


def _read_password(password_file: Path | None, confirm: bool = True) -> str:
    if password_file is not None:
        try:
            return password_file.read_text().rstrip("\r\n")
        except OSError as exc:
            raise UserError(f"cannot read {password_file}: {exc.strerror}") from None
    if os.environ.get("CHATMINA_ADMIN_PASSWORD"):
        return os.environ["CHATMINA_ADMIN_PASSWORD"]
    if not sys.stdin.isatty():
        raise UserError("no password: use --password-file, CHATMINA_ADMIN_PASSWORD or a terminal")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=confirm))


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory (CHATMINA_DATA_DIR).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default=None,
    help="Log verbosity (CHATMINA_LOG_LEVEL).",
)
@click.option(
    "--log-format",
    type=click.Choice(["plain", "json"], case_sensitive=False),
    default=None,
    help="Log lines for people or one JSON object per line (CHATMINA_LOG_FORMAT).",
)
@click.pass_context
def main(
    ctx: click.Context, data_dir: Path | None, log_level: str | None, log_format: str | None
) -> None:
    """Chatmina: self-hosted AI customer-support chat. Without a command, runs the server."""
    # Everything the appliance writes (database, WAL, outbox, key) is for its own user only.
    os.umask(0o077)
    ctx.obj = {
        "data_dir": str(data_dir) if data_dir else None,
        "log_level": log_level.lower() if log_level else None,
        "log_format": log_format.lower() if log_format else None,
    }
    if ctx.invoked_subcommand is None:
        ctx.invoke(serve)


@main.command()
@click.option("--host", default=None, help="Address to listen on (CHATMINA_HOST).")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="Port to listen on (CHATMINA_PORT)."
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory (CHATMINA_DATA_DIR).",
)
@click.pass_context
@friendly_errors
def serve(ctx: click.Context, host: str | None, port: int | None, data_dir: Path | None) -> None:
    """Run the web server."""
    settings = _settings(ctx, host=host, port=port, data_dir=str(data_dir) if data_dir else None)
    _setup_logging(settings)
    from chatmina.ops import lock, streams

    lock.hold_server(settings.data_path)
    # Start-up builds ~180,000 objects that live as long as the process (modules, ORM
    # mappers, route handlers). The cyclic collector walked them again and again while they
    # were being built (~15 % of start-up); it now waits, and they are then frozen out of
    # every later collection. Start-up leaves almost no garbage (a full collection here
    # found ~600 objects and took 100 ms), so none is collected.
    gc.disable()
    try:
        services = _services(settings)
        lock.record_server_pid()

        import uvicorn

        from chatmina.app import create_app

        app = create_app(services)
    finally:
        gc.freeze()
        gc.enable()
    _setup_logging(settings)  # again: building the app configured Litestar's own logging
    click.echo(
        f"Chatmina {__version__} serving {settings.base_url} (data in {settings.data_path})",
        err=True,
    )
    if services.setup_token:
        click.echo(
            "\n  Chatmina is not set up yet. Open this one-time link to create the first\n"
            "  account and workspace (it works until setup is done):\n\n"
            f"    {settings.base_url}/setup?token={services.setup_token}\n",
            err=True,
        )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # uvicorn logs through our handler and format (chatmina.logs)
        access_log=settings.access_log,
        server_header=False,
        # Requests still running are cut after this (event streams end at once); it stays
        # below Docker's 10 s stop timeout, so the lifespan still stops the scheduler and
        # checkpoints the WAL before a SIGKILL could come.
        timeout_graceful_shutdown=5,
        lifespan="on",
    )
    server = streams.server(config)  # open event streams end as soon as a stop begins

    def _stop(_signum: int, _frame: Any) -> None:
        server.should_exit = True

    # uvicorn handles SIGTERM/SIGINT itself, then re-raises the signal under the handler it
    # found on entry. Under the default handler that kills the process (exit -15) before the
    # database is closed; under this one, run() returns and a stop is a clean exit 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stop)
    server.run()  # a failed start raises SystemExit; returning means a requested stop
    services.db.close()
    # Work still running in background threads (an import waiting on a slow website) is
    # durable and picked up at the next start; interpreter shutdown would wait for it.
    logging.shutdown()
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(0)


@main.command()
@click.pass_context
@friendly_errors
def migrate(ctx: click.Context) -> None:
    """Create or upgrade the database schema."""
    settings = _settings(ctx)
    services = _services(settings)
    services.db.close()
    click.echo(f"Database {services.db.path} is up to date.")


@main.command("create-admin")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--workspace", required=True, help="Name of the new workspace.")
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Read the password from this file (else CHATMINA_ADMIN_PASSWORD or a prompt).",
)
@click.pass_context
@friendly_errors
def create_admin(
    ctx: click.Context, email: str, name: str, workspace: str, password_file: Path | None
) -> None:
    """Create a user who owns a new workspace; prints the workspace slug."""
    from chatmina.accounts import service as accounts
    from chatmina.accounts.passwords import check_new_password

    # Check the input before opening the data directory, which on a new box would create
    # the database and master.key for a command that then fails.
    settings = _settings(ctx)
    accounts.clean_email(email)
    accounts.clean_name(name)
    accounts.clean_name(workspace, "workspace", "a workspace name")
    password = _read_password(password_file)
    check_new_password(password)
    services = _services(settings)
    _user, ws = accounts.create_owner(
        services.db,
        services.passwords,
        email=email,
        name=name,
        password=password,
        workspace_name=workspace,
    )
    services.db.close()
    click.echo(ws.slug)


@main.command("reset-password")
@click.option("--email", required=True)
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Read the new password from this file (else CHATMINA_ADMIN_PASSWORD or a prompt).",
)
@click.pass_context
@friendly_errors
def reset_password(ctx: click.Context, email: str, password_file: Path | None) -> None:
    """Set a new password for an account and log it out everywhere."""
    from chatmina.accounts import service as accounts

    services = _services(_settings(ctx))
    password = _read_password(password_file)
    accounts.set_password_by_email(services.db, services.passwords, email, password)
    services.db.close()
    click.echo(f"Password changed for {email.strip().lower()}; all its sessions ended.")


@main.group("api-key")
def api_key() -> None:
    """Workspace API keys."""


@api_key.command("create")
@click.option("--workspace", required=True, help="Workspace slug.")
@click.option("--name", required=True, help="What the key is for.")
@click.pass_context
@friendly_errors
def api_key_create(ctx: click.Context, workspace: str, name: str) -> None:
    """Create an API key and print it (it is shown only this once)."""
    from chatmina.accounts import service as accounts

    services = _services(_settings(ctx))
    _row, secret = accounts.create_api_key_by_slug(services.db, services.keys, workspace, name)
    services.db.close()
    click.echo(secret)


@main.command()
@click.pass_context
@friendly_errors
def config(ctx: click.Context) -> None:
    """Print the effective settings, secrets masked."""
    settings = _settings(ctx)
    rows = settings.masked()
    width = max(len(env) for env, _, _ in rows)
    for env, value, source in rows:
        click.echo(f"{env.ljust(width)}  {value}  ({source})")


@main.command()
def version() -> None:
    """Print the versions of Chatmina, SQLCipher, SQLite and sqlite-vec."""
    import sqlcipher3.dbapi2 as sqlcipher

    from chatmina.storage.db import load_vec0

    conn = sqlcipher.connect(":memory:")
    load_vec0(conn)
    cipher = conn.execute("PRAGMA cipher_version").fetchone()[0]
    sqlite, vec = conn.execute("SELECT sqlite_version(), vec_version()").fetchone()
    conn.close()
    click.echo(f"Chatmina {__version__}")
    click.echo(f"SQLCipher {cipher}")
    click.echo(f"SQLite {sqlite}")
    click.echo(f"sqlite-vec {vec}")


def _register_operations() -> None:
    from chatmina.ops.cli import register

    register(main)


_register_operations()


# Features bring their own command groups; they import what they need when they run.
main.add_command(knowledge_cli.kb)
