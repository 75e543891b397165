"""Stopping: SIGTERM ends the server cleanly, and one data directory has one server."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from chatmina.ops.lock import server_pid
from chatmina.storage.keys import DB_FILE_NAME
from tests.conftest import MASTER_KEY
from tests.server_helpers import RunningServer


def test_sigterm_stops_the_scheduler_checkpoints_and_exits_zero(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = RunningServer(data_dir, master_key=MASTER_KEY).start()
    assert server_pid(data_dir) == server.pid
    assert httpx.get(server.url + "/healthz").status_code == 200
    began = time.monotonic()
    assert server.stop() == 0, server.output
    assert time.monotonic() - began < 5
    wal = Path(f"{data_dir / DB_FILE_NAME}-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    assert server_pid(data_dir) is None
    # The lifespan's shutdown (scheduler stopped, WAL checkpointed) ran to its end.
    assert "Application shutdown complete" in server.output
    assert "Traceback" not in server.output


def test_a_second_server_on_the_same_data_directory_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with RunningServer(data_dir, master_key=MASTER_KEY) as first:
        second = RunningServer(data_dir, master_key=MASTER_KEY)
        second.spawn()
        code = second.wait(15)
        assert code != 0
        errors = [line for line in second.stderr_lines if line.strip()]
        assert errors == [
            f"chatmina: a Chatmina server is already running on {data_dir} (pid {first.pid})"
        ], second.output
        assert httpx.get(first.url + "/healthz").status_code == 200
