"""The builtin embedder's identity, and a stand-in that loads it (and numpy) on first use.

Start-up only needs to know which vector space is configured; the hashing code, its tables
and numpy (~70 ms and ~15 MB) wait until the first text is embedded.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chatmina.knowledge.embedders.base import Embedder, Vectors

VERSION = "builtin-v1"
DIMENSIONS = 384
SPEC = f"{VERSION}/{DIMENSIONS}"


class DeferredBuiltin:
    spec = SPEC
    dimensions = DIMENSIONS

    def __init__(self) -> None:
        self._real: Embedder | None = None
        self._lock = threading.Lock()

    def config(self) -> dict[str, Any]:
        return {"kind": "builtin", "version": VERSION}

    def embed(self, texts: Sequence[str]) -> Vectors:
        if self._real is None:
            with self._lock:
                if self._real is None:
                    from chatmina.knowledge.embedders.builtin import BuiltinEmbedder

                    self._real = BuiltinEmbedder()
        return self._real.embed(texts)
