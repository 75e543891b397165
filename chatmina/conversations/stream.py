"""The two live streams: a visitor's (widget) and a workspace's inbox (agents).

A stream subscribes before it reads the database, so nothing committed in between is
missed; a message that arrives both ways is sent once (by id). When a client reads too
slowly its queue overflows and the stream ends: the client reconnects with the last id it
saw and the replay fills the gap.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import anyio.to_thread

from chatmina.conversations import service as conversations
from chatmina.conversations.live import Live, frame
from chatmina.conversations.models import Visitor
from chatmina.storage.db import Database

PING_S = 20.0
PING = b": ping\n\n"
RECHECK_S = 20.0  # how soon a signed-out or removed agent's open inbox stream ends


async def visitor_events(
    db: Database, live: Live, visitor: Visitor, after: int
) -> AsyncIterator[bytes]:
    live.broker.bind()
    subscription = live.broker.visitors.add(visitor.id)
    try:
        # One read gives the state and the replay (messages after ``after``).
        conversation, messages = await anyio.to_thread.run_sync(conversations.current, db, visitor)
        yield frame("conversation", conversation).data
        last = after
        for message in messages:
            if message["id"] > after:
                yield frame("message", message, message["id"]).data
                last = max(last, message["id"])
        while True:
            frames = await subscription.next(PING_S)
            if frames is None:
                yield PING
                continue
            for item in frames:
                if item.message_id is not None:
                    if item.message_id <= last:
                        continue
                    last = item.message_id
                yield item.data
            if subscription.overflowed:
                return
    finally:
        live.broker.visitors.remove(visitor.id, subscription)


async def inbox_events(
    live: Live, workspace_id: int, still_allowed: Callable[[], bool]
) -> AsyncIterator[bytes]:
    """``still_allowed`` (run in a thread every RECHECK_S) ends the stream once the agent's
    session or membership is gone: a stream outlives the request that checked them."""
    live.broker.bind()
    subscription = live.broker.inboxes.add(workspace_id)
    checked = time.monotonic()
    try:
        yield b": connected\n\n"
        while True:
            if time.monotonic() - checked >= RECHECK_S:
                if not await anyio.to_thread.run_sync(still_allowed):
                    return
                checked = time.monotonic()
            frames = await subscription.next(min(PING_S, RECHECK_S))
            if frames is None:
                yield PING
                continue
            for item in frames:
                yield item.data
            if subscription.overflowed:
                return
    finally:
        live.broker.inboxes.remove(workspace_id, subscription)
