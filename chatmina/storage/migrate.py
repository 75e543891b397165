"""Bring the database schema up to date."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from chatmina.storage.db import Database
from chatmina.storage.migrations import HEAD

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        has_table = conn.execute(
            text("SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'")
        ).first()
        if not has_table:
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def alembic_config(db: Database | None = None) -> object:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if db is not None:
        cfg.attributes["db"] = db
    return cfg


def migrate(db: Database) -> bool:
    """Run pending migrations; returns True when anything ran."""
    if current_revision(db) == HEAD:
        return False
    from alembic import command

    cfg = alembic_config(db)
    with db.engine.connect() as conn:
        cfg.attributes["connection"] = conn  # type: ignore[attr-defined]
        command.upgrade(cfg, "head")  # type: ignore[arg-type]
        conn.commit()
    return True
