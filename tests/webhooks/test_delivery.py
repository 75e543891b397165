"""The delivery queue end to end: events in a write transaction, a real receiver that
verifies every signature with the standardwebhooks library, retries by travelling the clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from chatmina.settings import Settings
from chatmina.ui.context import Services
from chatmina.webhooks import queue
from chatmina.webhooks.jobs import DeliveryWorker
from chatmina.webhooks.models import Delivery, DeliveryAttempt
from tests.conftest import Personas
from tests.webhooks.conftest import Hooked, emit, travel

pytestmark = pytest.mark.anyio


def _deliveries(services: Services) -> list[Delivery]:
    with services.db.read() as s:
        return list(s.scalars(select(Delivery).order_by(Delivery.id)))


def _attempts(services: Services, delivery_id: int) -> list[DeliveryAttempt]:
    with services.db.read() as s:
        return list(
            s.scalars(
                select(DeliveryAttempt)
                .where(DeliveryAttempt.delivery_id == delivery_id)
                .order_by(DeliveryAttempt.id)
            )
        )


async def test_an_event_arrives_signed_in_the_standard_envelope(
    services: Services, personas: Personas, hooked: Hooked, worker: DeliveryWorker
) -> None:
    emit(services, personas.a_id, "message.created", id="msg-1", conversation_id="c-1")
    emit(services, personas.a_id, "conversation.created", id="c-1")  # not subscribed
    assert await worker.tick() == 1

    [payload] = hooked.receiver.processed.values()
    assert payload["type"] == "message.created"
    assert payload["data"] == {"id": "msg-1", "conversation_id": "c-1"}
    assert payload["timestamp"].endswith("Z")
    [arrival] = hooked.receiver.arrivals
    assert arrival.verified and arrival.headers["content-type"] == "application/json"
    [delivery] = _deliveries(services)
    assert delivery.state == "delivered" and arrival.msg_id == delivery.msg_id
    [attempt] = _attempts(services, delivery.id)
    assert attempt.status == 200 and attempt.attempt == 1 and attempt.error is None
    assert attempt.response_excerpt == '{"ok":true}'


async def test_a_failed_write_queues_nothing(
    services: Services, personas: Personas, hooked: Hooked
) -> None:
    from chatmina import clock
    from chatmina.events import Event

    with pytest.raises(RuntimeError), services.db.write() as session:
        services.events.emit(session, Event("message.created", personas.a_id, {}, clock.now()))
        raise RuntimeError("the write fails after the event")
    assert _deliveries(services) == []


async def test_receiver_down_then_up_every_delivery_arrives_once(
    services: Services, personas: Personas, hooked: Hooked, worker: DeliveryWorker
) -> None:
    receiver = hooked.receiver
    receiver.down()
    for number in range(20):
        emit(services, personas.a_id, "message.created", number=number)
    assert await worker.tick() == 20
    assert await worker.tick() == 0  # nothing is due before the first retry delay
    travel(seconds=7)
    assert await worker.tick() == 20  # second attempt, still down
    receiver.up()
    # Up again, but slow: the receiver processes each message after the sender gave up
    # (1 s timeout), so the next attempt brings the same webhook-ids a second time.
    receiver.behave(delay=1.5)
    travel(seconds=40)
    assert await worker.tick() == 20
    assert receiver.wait_for(20)
    receiver.behave()
    travel(minutes=3)
    assert await worker.tick() == 20

    assert len(receiver.processed) == 20
    assert sorted(p["data"]["number"] for p in receiver.processed.values()) == list(range(20))
    assert receiver.duplicates == 20  # each id arrived twice and was processed once
    assert receiver.rejected == []
    deliveries = _deliveries(services)
    assert {d.state for d in deliveries} == {"delivered"}
    assert {d.msg_id for d in deliveries} == set(receiver.processed)
    log = _attempts(services, deliveries[0].id)
    assert [a.attempt for a in log] == [1, 2, 3, 4]
    assert "refused the connection" in str(log[0].error)
    assert log[2].error == "timed out after 1 s" and log[3].status == 200


async def test_after_the_last_attempt_a_dead_letter_is_redelivered_with_the_same_id(
    services: Services, personas: Personas, hooked: Hooked, worker: DeliveryWorker
) -> None:
    from chatmina.webhooks import deliveries

    hooked.receiver.fail(500, times=queue.MAX_ATTEMPTS)
    emit(services, personas.a_id, "message.created", id="m-9")
    for delay in [*queue.RETRY_DELAYS, None]:
        assert await worker.tick() == 1
        if delay is not None:
            travel(seconds=delay.total_seconds() * 1.25)
    [dead] = _deliveries(services)
    assert dead.state == "dead" and dead.last_status == 500
    assert dead.last_error == "the receiver answered HTTP 500"
    assert len(_attempts(services, dead.id)) == queue.MAX_ATTEMPTS
    assert hooked.receiver.processed == {}

    deliveries.redeliver(services.db, personas.a_id, dead.msg_id)
    assert await worker.tick() == 1
    assert list(hooked.receiver.processed) == [dead.msg_id]
    assert _deliveries(services)[0].state == "delivered"
    numbers = [a.attempt for a in _attempts(services, dead.id)]
    assert numbers == list(range(1, queue.MAX_ATTEMPTS + 2))  # the log keeps counting


async def test_a_redelivered_dead_letter_gets_the_whole_schedule_again(
    services: Services, personas: Personas, hooked: Hooked, worker: DeliveryWorker
) -> None:
    from chatmina import clock
    from chatmina.webhooks import deliveries

    hooked.receiver.fail(500, times=100)
    emit(services, personas.a_id, "message.created")
    for delay in [*queue.RETRY_DELAYS, None]:
        assert await worker.tick() == 1
        if delay is not None:
            travel(seconds=delay.total_seconds() * 1.25)
    [dead] = _deliveries(services)
    deliveries.redeliver(services.db, personas.a_id, dead.msg_id)
    assert await worker.tick() == 1  # attempt 9 fails: retried after the first delay again
    [again] = _deliveries(services)
    assert again.state == "pending" and again.attempts == queue.MAX_ATTEMPTS + 1
    wait = (again.next_attempt_at - clock.now()).total_seconds()
    first = queue.RETRY_DELAYS[0].total_seconds()
    assert first * (1 - queue.JITTER) - 1 <= wait <= first * (1 + queue.JITTER)


async def test_retries_follow_the_documented_schedule(
    services: Services, personas: Personas, hooked: Hooked, worker: DeliveryWorker
) -> None:
    from chatmina import clock

    hooked.receiver.fail(503, times=100)
    emit(services, personas.a_id, "message.created")
    for delay in queue.RETRY_DELAYS:
        assert await worker.tick() == 1
        [delivery] = _deliveries(services)
        wait = (delivery.next_attempt_at - clock.now()).total_seconds()
        assert delay.total_seconds() * 0.79 <= wait <= delay.total_seconds() * 1.21
        travel(seconds=wait - 0.5)
        assert await worker.tick() == 0  # not yet due
        travel(seconds=1)
    assert await worker.tick() == 1
    assert _deliveries(services)[0].state == "dead"


async def test_a_huge_or_non_json_answer_still_counts_as_delivered_and_is_logged(
    services: Services, personas: Personas, hooked: Hooked, worker: DeliveryWorker
) -> None:
    hooked.receiver.behave(body=b"<html>" + b"x" * 200_000, content_type="text/html")
    emit(services, personas.a_id, "message.created")
    assert await worker.tick() == 1
    [delivery] = _deliveries(services)
    [attempt] = _attempts(services, delivery.id)
    assert delivery.state == "delivered" and attempt.status == 200
    assert attempt.error == "the response is larger than 64 KB (the rest was not read)"
    assert (
        attempt.response_excerpt.startswith("<html>xxx") and len(attempt.response_excerpt) == 1000
    )


async def test_a_redirect_is_a_failed_attempt_with_a_clear_error(
    services: Services, personas: Personas, hooked: Hooked, worker: DeliveryWorker
) -> None:
    hooked.receiver.behave(redirect_to=hooked.receiver.url())
    emit(services, personas.a_id, "message.created")
    assert await worker.tick() == 1
    [delivery] = _deliveries(services)
    assert delivery.state == "pending" and delivery.last_status == 302
    assert delivery.last_error == f"redirects are not followed (302 to {hooked.receiver.url()})"


async def test_an_expired_lease_is_sent_again_with_the_same_webhook_id(
    services: Services, personas: Personas, hooked: Hooked, worker: DeliveryWorker
) -> None:
    from chatmina import clock

    emit(services, personas.a_id, "message.created")
    with services.db.write() as s:  # a process claimed it, then died before sending
        [claimed] = queue.claim_due(s, clock.now(), 10, worker.lease)
    assert await worker.tick() == 0  # leased: nobody else sends it
    travel(seconds=worker.lease.total_seconds() + 1)
    assert await worker.tick() == 1
    assert list(hooked.receiver.processed) == [claimed.msg_id]
    log = _attempts(services, claimed.delivery_id)
    assert [(a.attempt, a.error) for a in log] == [(1, queue.INTERRUPTED), (2, None)]


async def test_a_finished_knowledge_import_is_delivered_as_an_event(
    services: Services, personas: Personas, worker: DeliveryWorker, receiver: Any
) -> None:
    from chatmina.knowledge.parsers import ImportLimits
    from tests.webhooks.conftest import add_endpoint

    add_endpoint(services, personas.a_id, receiver, ["knowledge.*"])
    files = [("returns.md", b"# Returns\n\nReturns are free for 30 days.\n")]
    job_id = services.knowledge.start_file_import(
        personas.a_id, personas.alice_id, files, ImportLimits(), "published"
    )
    assert services.knowledge.last_import is not None
    services.knowledge.last_import.result(30)
    assert await worker.tick() == 1
    [payload] = receiver.processed.values()
    assert payload["type"] == "knowledge.import.finished"
    assert payload["data"] == {
        "job_id": job_id, "status": "finished", "imported": 1, "updated": 0, "skipped": 0,
        "failed": 0,
    }  # fmt: skip


async def test_an_import_from_the_command_line_is_delivered_by_the_server(
    tmp_path: Path,
    settings: Settings,
    services: Services,
    personas: Personas,
    worker: DeliveryWorker,
    receiver: Any,
) -> None:
    from tests.ops.helpers import chatmina
    from tests.webhooks.conftest import add_endpoint

    add_endpoint(services, personas.a_id, receiver, ["knowledge.import.finished"])
    (tmp_path / "help").mkdir()
    (tmp_path / "help" / "returns.md").write_text("# Returns\n\nFree for 30 days.\n")
    services.db.checkpoint()
    done = chatmina(
        settings.data_path, "kb", "import", "--workspace", personas.a_slug, str(tmp_path / "help")
    )
    assert done.returncode == 0, done.stderr
    assert await worker.tick() == 1  # queued by the CLI's transaction, sent by the server
    [payload] = receiver.processed.values()
    assert payload["type"] == "knowledge.import.finished"
    assert payload["data"]["imported"] == 1


async def test_event_data_that_json_cannot_hold_is_sent_as_text(
    services: Services, personas: Personas, hooked: Hooked, worker: DeliveryWorker
) -> None:
    import datetime as dt

    when = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)
    emit(services, personas.a_id, "message.created", sent_at=when)
    assert await worker.tick() == 1
    [payload] = hooked.receiver.processed.values()
    assert payload["data"] == {"sent_at": "2026-11-27 08:00:00+00:00"}
