"""One data directory: commands share it, restore and key rotation have it to themselves."""

from __future__ import annotations

from chatmina.ops import lock
from chatmina.settings import Settings
from chatmina.ui.context import Services
from tests.ops.helpers import assert_one_line_error, chatmina


def test_commands_refuse_to_run_during_a_restore(settings: Settings, services: Services) -> None:
    services.db.close()
    with lock.exclusive(settings.data_path, "restore a backup"):
        result = chatmina(
            settings.data_path, "api-key", "create", "--workspace", "x", "--name", "y"
        )
        assert_one_line_error(result, "maintenance command", "wait for it to finish")
    ok = chatmina(settings.data_path, "migrate")
    assert ok.returncode == 0, ok.stderr


def test_a_maintenance_command_refuses_while_another_command_uses_the_directory(
    settings: Settings, services: Services
) -> None:
    services.db.close()
    lock.hold_shared(settings.data_path)  # as a running `chatmina kb import` would
    result = chatmina(settings.data_path, "key", "rotate", "--yes")
    assert_one_line_error(result, "another chatmina command is using", "rotate the key")
    lock.release_all()
    assert chatmina(settings.data_path, "key", "info").returncode == 0
