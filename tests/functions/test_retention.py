"""The call log keeps 30 days: older calls are deleted by a scheduled job."""

from __future__ import annotations

import datetime as dt

from chatmina import clock
from chatmina.functions import calls
from chatmina.functions.jobs import CALL_LOG_DAYS, purge_call_log
from chatmina.scheduler import create_scheduler
from chatmina.ui.context import Services
from chatmina.webhooks.jobs import DeliveryWorker
from tests.conftest import Personas
from tests.functions.conftest import logged_calls, make_function


def _log(services: Services, workspace_id: int, function_id: int, order: str) -> None:
    record = calls.CallRecord(
        workspace_id, function_id, None, f"msg_{order}", "call", 1, False, True, 200, 2.0, "",
        {"order_id": order}, "{}", clock.now(),
    )  # fmt: skip
    calls.record(services.db, services.keys, [record])


def test_calls_older_than_30_days_are_purged_and_newer_ones_kept(
    services: Services, personas: Personas
) -> None:
    a, _ = make_function(services, personas.a_id, "http://127.0.0.1:9/a")
    b, _ = make_function(services, personas.b_id, "http://127.0.0.1:9/b")
    _log(services, personas.a_id, a.id, "10001")
    _log(services, personas.b_id, b.id, "20001")
    clock.travel(dt.timedelta(days=CALL_LOG_DAYS - 1))
    _log(services, personas.a_id, a.id, "10002")
    assert purge_call_log(services.db) == 0
    clock.travel(dt.timedelta(days=1, minutes=1))
    assert purge_call_log(services.db) == 2  # both workspaces' month-old calls
    assert [c.message_id for c in logged_calls(services)] == ["msg_10002"]


def test_the_purge_is_scheduled(services: Services) -> None:
    scheduler = create_scheduler(
        services, DeliveryWorker(services.db, services.keys, services.settings, services.mailer)
    )
    job = scheduler.get_job("purge-function-call-log")
    assert job is not None and job.func is purge_call_log
