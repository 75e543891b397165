"""docs/webhooks.md describes what the code does: every event type and the retry schedule."""

from __future__ import annotations

import re
from pathlib import Path

from chatmina.events import EVENT_TYPES
from chatmina.webhooks import queue

DOC = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()


def test_every_event_type_is_documented() -> None:
    documented = set(re.findall(r"^\| `([a-z.]+)` \|", DOC, re.M))
    assert documented == set(EVENT_TYPES)


def test_the_documented_retry_schedule_is_the_one_used() -> None:
    rows = re.findall(r"^\| (\d+) \| (\d+) (s|min|h) \|$", DOC, re.M)
    unit = {"s": 1, "min": 60, "h": 3600}
    documented = [int(amount) * unit[u] for _, amount, u in rows]
    assert documented == [d.total_seconds() for d in queue.RETRY_DELAYS]
    assert f"After the {queue.MAX_ATTEMPTS}th failed attempt" in DOC
    assert f"±{round(queue.JITTER * 100)} %" in DOC
