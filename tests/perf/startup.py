"""Start-up: process start to the first 200 from /healthz, and the idle memory after it.

Targets (the product issue): ready within 1.0 s, idle RSS at most 90 MB, on a data
directory that is already migrated (every start after the first) and on a fresh one
(key file, empty database, all migrations).

Python modules are byte-compiled first, as they are for every start but the very first of
an install (and always in the binary): where PYTHONDONTWRITEBYTECODE is set, every start
would otherwise compile Chatmina's ~110 modules from source (~0.1 s) and measure that.
"""

from __future__ import annotations

import compileall
import tempfile
import time
from pathlib import Path

import httpx

from tests.perf.common import Result, median, rss_mb
from tests.server_helpers import RunningServer

RUNS = 5
START_TARGET_S = 1.0
RSS_TARGET_MB = 90.0
SETTLE_S = 0.5


def _start_once(data_dir: Path) -> tuple[float, float]:
    """(seconds to /healthz 200, idle RSS in MB after one more /healthz)."""
    server = RunningServer(data_dir)
    try:
        server.start()
        assert server.started_in is not None
        httpx.get(server.url + "/healthz").raise_for_status()
        time.sleep(SETTLE_S)
        return server.started_in, rss_mb(server.pid)
    finally:
        server.stop()


def run() -> list[Result]:
    import chatmina

    compileall.compile_dir(Path(chatmina.__file__).parent, quiet=1)
    with tempfile.TemporaryDirectory(prefix="chatmina-bench-") as scratch:
        root = Path(scratch)
        fresh = [_start_once(root / f"fresh-{i}") for i in range(RUNS)]
        migrated_dir = root / "migrated"
        _start_once(migrated_dir)  # migrates, and warms the page cache
        migrated = [_start_once(migrated_dir) for _ in range(RUNS)]

    def seconds(runs: list[tuple[float, float]]) -> list[float]:
        return [round(s, 3) for s, _ in runs]

    rss = [round(mb, 1) for _, mb in migrated]
    return [
        Result(
            "startup_to_healthz_s",
            median([s for s, _ in migrated]),
            START_TARGET_S,
            "s",
            extra={"data_dir": "migrated", "runs": seconds(migrated)},
        ),
        Result(
            "startup_to_healthz_fresh_s",
            median([s for s, _ in fresh]),
            START_TARGET_S,
            "s",
            extra={"data_dir": "fresh", "runs": seconds(fresh)},
        ),
        Result("idle_rss_mb", max(rss), RSS_TARGET_MB, "MB", extra={"stat": "max", "runs": rss}),
    ]
