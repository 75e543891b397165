"""The binary: its size, exec to the first 200 from /healthz, and its idle memory.

Targets (the product issue): one-file binary at most 60 MB; ready within 2.0 s for the
one-file binary (it unpacks itself first) and 0.8 s for the one-directory build; idle RSS
at most 100 MB. Missing builds are made first with `make binary` and `make binary-dir`
(about a minute each), and the result says so.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from tests.perf.common import Result, median, rss_mb
from tests.server_helpers import RunningServer, server_env

ROOT = Path(__file__).resolve().parent.parent.parent
ONE_FILE = ROOT / "dist" / "chatmina"
ONE_DIR = ROOT / "dist" / "chatmina-dir" / "chatmina"
RUNS = 5
SIZE_TARGET_MB = 60.0
ONE_FILE_START_TARGET_S = 2.0
ONE_DIR_START_TARGET_S = 0.8
RSS_TARGET_MB = 100.0
SETTLE_S = 0.5
MASTER_KEY = "5c" * 32


class BinaryServer(RunningServer):
    def __init__(self, binary: Path, data_dir: Path) -> None:
        super().__init__(data_dir, master_key=MASTER_KEY)
        self.binary = binary
        self.env = {**server_env(master_key=MASTER_KEY), "PATH": "/usr/bin:/bin"}

    @property
    def command(self) -> list[str]:
        return [str(self.binary), *super().command[3:]]


def _children(pid: int) -> list[int]:
    found = []
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = path.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(path.parent.name))
    return found


def _tree_rss_mb(pid: int) -> float:
    """The one-file binary is two processes (the unpacker and Python): count both."""
    return rss_mb(pid) + sum(rss_mb(child) for child in _children(pid))


def _ensure(binary: Path, target: str) -> bool:
    if binary.exists():
        return False
    subprocess.run(["make", target], cwd=ROOT, check=True)
    return True


def _start_once(binary: Path, data_dir: Path) -> tuple[float, float]:
    server = BinaryServer(binary, data_dir)
    try:
        server.start(timeout=30)
        assert server.started_in is not None
        httpx.get(server.url + "/healthz").raise_for_status()
        time.sleep(SETTLE_S)
        return server.started_in, _tree_rss_mb(server.pid)
    finally:
        server.stop()


def _starts(binary: Path, scratch: Path) -> list[tuple[float, float]]:
    _start_once(binary, scratch)  # migrates, and warms the page cache
    return [_start_once(binary, scratch) for _ in range(RUNS)]


def run() -> list[Result]:
    built = [
        name
        for binary, name in ((ONE_FILE, "binary"), (ONE_DIR, "binary-dir"))
        if _ensure(binary, name)
    ]
    size = ONE_FILE.stat().st_size / 1e6
    with tempfile.TemporaryDirectory(prefix="chatmina-bench-") as scratch:
        one_file = _starts(ONE_FILE, Path(scratch) / "one-file")
        one_dir = _starts(ONE_DIR, Path(scratch) / "one-dir")
    rss = [round(mb, 1) for _, mb in one_file]
    return [
        Result("binary_size_mb", size, SIZE_TARGET_MB, "MB", extra={"built_now": built}),
        Result(
            "binary_start_to_healthz_s",
            median([s for s, _ in one_file]),
            ONE_FILE_START_TARGET_S,
            "s",
            extra={"build": "one-file", "runs": [round(s, 3) for s, _ in one_file]},
        ),
        Result(
            "binary_dir_start_to_healthz_s",
            median([s for s, _ in one_dir]),
            ONE_DIR_START_TARGET_S,
            "s",
            extra={"build": "one-dir", "runs": [round(s, 3) for s, _ in one_dir]},
        ),
        Result(
            "binary_idle_rss_mb",
            max(rss),
            RSS_TARGET_MB,
            "MB",
            extra={"stat": "max", "processes": "unpacker + server", "runs": rss},
        ),
    ]
