"""The live broker: bounded queues, per-key delivery, publishing from worker threads."""

from __future__ import annotations

import asyncio
import threading

import pytest

from chatmina.conversations.broker import QUEUE_LIMIT, Broker, Frame


@pytest.mark.anyio
async def test_a_frame_reaches_only_the_subscribers_of_its_key() -> None:
    broker = Broker()
    broker.bind()
    one, two = broker.visitors.add(1), broker.visitors.add(2)
    inbox = broker.inboxes.add(1)
    broker.to_visitor(1, Frame(b"for one", 5))
    assert await one.next(1) == [Frame(b"for one", 5)]
    assert await two.next(0.05) is None  # nothing, so a ping is due
    assert await inbox.next(0.05) is None


@pytest.mark.anyio
async def test_a_client_that_stops_reading_is_dropped_not_buffered_forever() -> None:
    broker = Broker()
    broker.bind()
    slow = broker.visitors.add(7)
    for n in range(QUEUE_LIMIT * 4):
        broker.to_visitor(7, Frame(b"x", n))
    frames = await slow.next(1)
    assert frames is not None and len(frames) == QUEUE_LIMIT  # the rest was never kept
    assert slow.overflowed  # the stream ends; the client reconnects and replays


@pytest.mark.anyio
async def test_publishing_from_a_worker_thread_wakes_the_listener() -> None:
    broker = Broker()
    broker.bind()
    listener = broker.inboxes.add(3)
    thread = threading.Thread(target=broker.to_inbox, args=(3, Frame(b"from a thread")))
    thread.start()
    thread.join()
    assert await listener.next(2) == [Frame(b"from a thread")]


@pytest.mark.anyio
async def test_unsubscribing_forgets_the_key() -> None:
    broker = Broker()
    broker.bind()
    subscription = broker.visitors.add(9)
    assert broker.visitors.count() == 1
    broker.visitors.remove(9, subscription)
    assert broker.visitors.count() == 0 and broker.visitors._subscribers == {}
    broker.to_visitor(9, Frame(b"nobody listens"))  # no error, nothing kept
    await asyncio.sleep(0)


def test_publishing_before_anyone_listened_is_a_no_op() -> None:
    Broker().to_visitor(1, Frame(b"early"))
