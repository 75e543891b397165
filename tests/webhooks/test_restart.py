"""A delivery in flight when the server process is killed (SIGKILL) is sent again after the
restart, with the same webhook-id, once its lease has run out."""

from __future__ import annotations

import os
import signal

from sqlalchemy import select

from chatmina.settings import Settings
from chatmina.storage.db import connect_raw
from chatmina.storage.keys import DB_FILE_NAME
from chatmina.ui.context import Services
from chatmina.webhooks.models import Delivery
from tests.conftest import MASTER_KEY, Personas
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.ops.helpers import keys_of
from tests.server_helpers import RunningServer
from tests.webhooks.conftest import add_endpoint, emit

ENV = {"CHATMINA_WEBHOOK_TIMEOUT_SECONDS": "2"}  # a lease of 7 s


def _states(settings: Settings) -> dict[str, tuple[str, int]]:
    conn = connect_raw(settings.data_path / DB_FILE_NAME, keys_of(MASTER_KEY))
    try:
        rows = conn.execute("SELECT msg_id, state, attempts FROM webhook_deliveries").fetchall()
    finally:
        conn.close()
    return {msg_id: (state, attempts) for msg_id, state, attempts in rows}


def test_a_delivery_cut_off_by_sigkill_arrives_after_the_restart_with_the_same_id(
    settings: Settings, services: Services, personas: Personas, receiver: WebhookReceiver
) -> None:
    add_endpoint(services, personas.a_id, receiver, ["message.created"])
    for number in range(3):
        emit(services, personas.a_id, "message.created", number=number)
    with services.db.read() as s:
        queued = set(s.scalars(select(Delivery.msg_id)))
    services.db.close()

    receiver.behave(delay=60)  # holds every request: the server dies while waiting
    server = RunningServer(settings.data_path, master_key=MASTER_KEY, env=ENV).start()
    try:
        assert receiver.wait_for_started(3, timeout=20), server.output
        os.kill(server.pid, signal.SIGKILL)
        assert server.wait(10) == -signal.SIGKILL
    finally:
        server.kill()
    assert set(receiver.started) == queued
    assert receiver.processed == {}
    assert {state for state, _ in _states(settings).values()} == {"pending"}

    receiver.behave()
    with RunningServer(settings.data_path, master_key=MASTER_KEY, env=ENV) as again:
        assert receiver.wait_for(3, timeout=30), again.output
    assert set(receiver.processed) == queued  # the same webhook-ids, each processed once
    assert receiver.duplicates == 0 and receiver.rejected == []
    assert _states(settings) == {msg_id: ("delivered", 2) for msg_id in queued}
