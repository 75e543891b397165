"""Live updates inside the one process: who is listening, and what they are sent.

A subscriber is a widget (keyed by its visitor) or an agent's inbox (keyed by workspace).
Each has a small bounded queue: a client that stops reading is dropped once its queue is
full (it reconnects and replays what it missed from the database) instead of growing the
server's memory. Publishing only appends to queues, so it never waits for a client, and
it may be called from worker threads: it hops onto the event loop.

Only committed facts are published (callers publish after their transaction), so a
listener never sees a message that a rollback took back. One process serves everything
(DESIGN.md); with several replicas this is where PostgreSQL's LISTEN/NOTIFY would fit.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass

QUEUE_LIMIT = 256


@dataclass(frozen=True, slots=True)
class Frame:
    """One Server-Sent Event, encoded; ``message_id`` lets a stream skip replayed ones."""

    data: bytes
    message_id: int | None = None


class Subscription:
    __slots__ = ("_queue", "_wake", "overflowed")

    def __init__(self) -> None:
        self._queue: deque[Frame] = deque()
        self._wake = asyncio.Event()
        self.overflowed = False

    def push(self, frame: Frame) -> None:
        if len(self._queue) >= QUEUE_LIMIT:
            self.overflowed = True
        else:
            self._queue.append(frame)
        self._wake.set()

    async def next(self, timeout: float) -> list[Frame] | None:
        """Every frame waiting (maybe none, once overflowed); None after ``timeout`` idle."""
        if not self._queue and not self.overflowed:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                return None
        self._wake.clear()
        frames = list(self._queue)
        self._queue.clear()
        return frames


class Topic:
    """Subscriptions by key (a visitor id, a workspace id)."""

    def __init__(self) -> None:
        self._subscribers: dict[int, set[Subscription]] = {}

    def add(self, key: int) -> Subscription:
        subscription = Subscription()
        self._subscribers.setdefault(key, set()).add(subscription)
        return subscription

    def remove(self, key: int, subscription: Subscription) -> None:
        found = self._subscribers.get(key)
        if found is not None:
            found.discard(subscription)
            if not found:
                del self._subscribers[key]

    def send(self, key: int, frame: Frame) -> None:
        for subscription in list(self._subscribers.get(key, ())):
            subscription.push(frame)

    def count_of(self, key: int) -> int:
        return len(self._subscribers.get(key, ()))

    def count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())


class Broker:
    def __init__(self) -> None:
        self.visitors = Topic()
        self.inboxes = Topic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    def bind(self) -> None:
        """Remember the serving event loop (called from it, when a stream opens)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._loop_thread = loop, threading.get_ident()

    def _run(self, topic: Topic, key: int, frame: Frame) -> None:
        loop = self._loop
        if loop is None:
            return  # nobody has ever listened
        if threading.get_ident() == self._loop_thread:
            topic.send(key, frame)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(topic.send, key, frame)

    def to_visitor(self, visitor_id: int, frame: Frame) -> None:
        self._run(self.visitors, visitor_id, frame)

    def to_inbox(self, workspace_id: int, frame: Frame) -> None:
        self._run(self.inboxes, workspace_id, frame)
