"""What happened in a workspace, for whoever delivers it (event webhooks, live updates).

A feature emits an :class:`Event` inside the write transaction that made it true. Durable
recorders (the webhook queue) run inside that same transaction, so an event is queued if
and only if what it reports was committed; nothing is lost between the two, and a failed
write queues nothing. Recorders must only write rows: no network, no sleeping.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

# Every type an endpoint can subscribe to. Patterns such as "conversation.*" match by prefix.
EVENT_TYPES = (
    "conversation.created",
    "conversation.assigned",
    "conversation.resolved",
    "message.created",
    "handoff.requested",
    "feedback.submitted",
    "knowledge.import.finished",
)


@dataclass(frozen=True)
class Event:
    type: str  # one of EVENT_TYPES
    workspace_id: int
    data: dict[str, Any]  # the JSON payload as delivered; ids and public fields only
    occurred_at: dt.datetime  # from chatmina.clock, UTC


Recorder = Callable[[Session, Event], None]


@dataclass
class EventBus:
    recorders: list[Recorder] = field(default_factory=list)

    def subscribe(self, recorder: Recorder) -> None:
        self.recorders.append(recorder)

    def emit(self, session: Session, event: Event) -> None:
        """Record ``event`` in the caller's write transaction (``session`` from db.write())."""
        if event.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event.type!r}")
        for record in self.recorders:
            record(session, event)
