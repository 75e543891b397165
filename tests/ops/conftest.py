from __future__ import annotations

from collections.abc import Iterator

import pytest

from chatmina.ops import lock


@pytest.fixture(autouse=True)
def _release_locks() -> Iterator[None]:
    """Commands run in this process keep their data-directory locks until it exits."""
    yield
    lock.release_all()
