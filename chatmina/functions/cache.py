"""Which workspaces changed their functions, so dispatchers reload them.

A dispatcher keeps each workspace's functions in memory (no database work before a call
goes out) and reloads when the generation it holds is no longer current. One process
owns its database file, so an in-process counter is enough; the entries also age out
after a while (see dispatch.py); allowlist changes are counted by webhooks/client.py.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_generations: dict[tuple[str, int], int] = {}


def changed(database: str, workspace_id: int) -> None:
    with _lock:
        key = (database, workspace_id)
        _generations[key] = _generations.get(key, 0) + 1


def generation(database: str, workspace_id: int) -> int:
    return _generations.get((database, workspace_id), 0)
