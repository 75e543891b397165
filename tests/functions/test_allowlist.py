"""A workspace's private-host allowlist governs its functions' calls, and a change to it
applies to the very next call (the dispatcher's cache of the workspace is dropped)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chatmina.assistant.tools import CallContext, Tool
from chatmina.settings import Settings
from chatmina.storage.keys import DB_FILE_NAME
from chatmina.ui.context import Services
from chatmina.webhooks import service as webhooks
from tests.conftest import Personas, make_settings
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.functions.conftest import make_function


@pytest.fixture
def settings(tmp_path: Path, template_db: Path) -> Settings:
    """No instance-wide allowance: only the workspace's own list opens loopback."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copyfile(template_db, data_dir / DB_FILE_NAME)
    return make_settings(data_dir)


@pytest.mark.anyio
async def test_removing_a_host_from_the_workspace_allowlist_stops_the_next_call(
    services: Services, personas: Personas, receiver: WebhookReceiver
) -> None:
    webhooks.save_private_hosts(services.db, personas.a_id, receiver.address)
    view, secret = make_function(services, personas.a_id, receiver.url())
    receiver.secrets = [secret]
    tool = Tool(view.name, view.description, view.parameters)
    dispatcher = services.answerer.dispatcher

    first = await dispatcher.call(
        tool, {"order_id": "12345"}, CallContext(personas.a_id, None, "call_1", False)
    )
    assert first.ok, first.content
    assert len(receiver.arrivals) == 1

    webhooks.save_private_hosts(services.db, personas.a_id, "")
    second = await dispatcher.call(
        tool, {"order_id": "12345"}, CallContext(personas.a_id, None, "call_2", False)
    )
    assert not second.ok and "is a loopback address" in second.content
    assert len(receiver.arrivals) == 1  # nothing more reached the receiver
