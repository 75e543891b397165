"""Reading Server-Sent Events from a real HTTP stream, as the widget and inbox do."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class ServerEvent:
    name: str
    data: Any
    id: str | None


def events(response: httpx.Response) -> Iterator[ServerEvent]:
    name, data, event_id = "message", [], None
    for line in response.iter_lines():
        if not line:
            if data:
                yield ServerEvent(name, json.loads("\n".join(data)), event_id)
            name, data, event_id = "message", [], None
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                event_id = value


def read_until(
    stream: Iterator[ServerEvent], done: Callable[[ServerEvent], bool], limit: int = 500
) -> list[ServerEvent]:
    """Events up to and including the first one ``done`` accepts."""
    seen: list[ServerEvent] = []
    for event in stream:
        seen.append(event)
        if done(event):
            return seen
        if len(seen) >= limit:
            break
    raise AssertionError(f"the stream ended without the expected event: {seen}")
