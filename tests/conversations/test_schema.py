"""Migration 0004 builds what the models describe; the identity secret survives a key
rotation."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import chatmina.storage.models  # noqa: F401 - every table on Base.metadata
from chatmina.conversations import widget_settings
from chatmina.settings import Settings
from chatmina.storage import rekey
from chatmina.storage.db import Base, Database
from chatmina.storage.keys import Keys
from chatmina.ui.context import Services
from tests.conftest import Personas

OURS = {"visitors", "widget_settings", "conversations", "messages"}


def _table(diff: Any) -> str:
    item = diff[0] if isinstance(diff, list) else diff
    for part in item[1:]:
        name = getattr(part, "name", None)
        table = getattr(part, "table", None)
        if table is not None and getattr(table, "name", None):
            return str(table.name)
        if isinstance(part, str):
            return part
        if name and hasattr(part, "columns"):
            return str(name)
    return ""


def test_the_migrated_tables_match_the_models(services: Services) -> None:
    with services.db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    ours = [d for d in diffs if _table(d) in OURS]
    assert ours == []


def test_the_identity_secret_moves_to_a_new_master_key(
    settings: Settings, services: Services, personas: Personas
) -> None:
    secret = widget_settings.rotate_secret(services.db, services.keys, personas.a_id)
    services.db.close()
    rotation = rekey.rotate_master_key(settings)
    new = Keys.from_master(bytes.fromhex(rotation.new_key_hex), "test")
    db = Database.open(settings.data_path, new)
    try:
        assert widget_settings.load(db, new, personas.a_id).identity_secret == secret
    finally:
        db.close()
