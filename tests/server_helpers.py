"""The real server in a subprocess: `python -m chatmina serve` on a free port.

Used by the end-to-end tests (tests/test_server.py, tests/browser/) and the benchmarks
(tests/perf/), which must see what an admin sees: the real command line, the real start-up
and shutdown, the real files in the data directory. Standard library + httpx only.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO
from urllib.parse import parse_qs, urlsplit

import httpx

START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0
POLL_INTERVAL = 0.01
BIND_ATTEMPTS = 3
_SETUP_URL = re.compile(r"(https?://\S+/setup\?token=\S+)")
_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it when binding to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(
    *, hashing: str | None = "insecure-fast", master_key: str | None = None, **extra: str
) -> dict[str, str]:
    """The environment of a server process: ours without any CHATMINA_* setting, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATMINA_")}
    env["PYTHONUNBUFFERED"] = "1"
    if hashing is not None:
        env["CHATMINA_PASSWORD_HASHING"] = hashing
    if master_key is not None:
        env["CHATMINA_MASTER_KEY"] = master_key
    env.update(extra)
    return env


class _Pipe:
    """Collects the lines of one output stream in a background thread."""

    def __init__(self, stream: IO[str] | None) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str] | None) -> None:
        for line in stream or ():
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, needle: str, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if needle in line:
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return None
                self._changed.wait(min(left, 0.1))

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)


class ServerFailed(AssertionError):
    """The server did not come up (or go down) as it should; the message has its output."""


class RunningServer:
    """`python -m chatmina serve` for one data directory, on a port of its own.

    As a context manager it starts (waiting for /healthz) and stops with SIGTERM::

        with RunningServer(tmp_path / "data") as server:
            httpx.get(server.url + "/healthz")
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        hashing: str | None = "insecure-fast",
        master_key: str | None = None,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self._port_given = port is not None
        self._use_port(port or free_port())
        self.env = server_env(hashing=hashing, master_key=master_key, **dict(env or {}))
        self.process: subprocess.Popen[str] | None = None
        self._stdout: _Pipe | None = None
        self._stderr: _Pipe | None = None
        self.returncode: int | None = None
        self.started_in: float | None = None

    def _use_port(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    @property
    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "chatmina",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
        ]

    # -- output --------------------------------------------------------------------------

    @property
    def stderr_lines(self) -> list[str]:
        return list(self._stderr.lines) if self._stderr else []

    @property
    def stdout_lines(self) -> list[str]:
        return list(self._stdout.lines) if self._stdout else []

    @property
    def output(self) -> str:
        return "\n".join(
            ["--- stdout ---", *self.stdout_lines, "--- stderr ---", *self.stderr_lines]
        )

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server is not started"
        return self.process.pid

    @property
    def setup_url(self) -> str:
        """The one-time setup link printed on first run (fails if there was none)."""
        assert self._stderr is not None, "the server is not started"
        line = self._stderr.wait_for("/setup?token=", timeout=2.0)
        if line is None:
            raise ServerFailed(f"no setup link was printed\n{self.output}")
        match = _SETUP_URL.search(line)
        assert match, line
        return match.group(1)

    # -- life cycle ----------------------------------------------------------------------

    def spawn(self) -> subprocess.Popen[str]:
        """Start the process without waiting for it to be ready."""
        assert self.process is None, "already started"
        self.process = subprocess.Popen(
            self.command,
            cwd=_ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self._stdout = _Pipe(self.process.stdout)
        self._stderr = _Pipe(self.process.stderr)
        return self.process

    def start(self, timeout: float = START_TIMEOUT) -> RunningServer:
        """Start and wait until GET /healthz answers 200.

        The port was free when it was chosen, but another process can take it before the
        server binds it; then the server starts again on a new port (unless one was given).
        """
        with httpx.Client(timeout=2.0) as client:
            for attempt in range(1, BIND_ATTEMPTS + 1):
                began = time.perf_counter()
                if self._wait_until_ready(client, self.spawn(), timeout):
                    self.started_in = time.perf_counter() - began
                    return self
                if self._port_given or attempt == BIND_ATTEMPTS:
                    raise ServerFailed(f"port {self.port} is taken\n{self.output}")
                self._use_port(free_port())
                self.process = None
        raise AssertionError("unreachable")

    def _wait_until_ready(
        self, client: httpx.Client, process: subprocess.Popen[str], timeout: float
    ) -> bool:
        """True once /healthz answers 200; False if the port was taken; else ServerFailed."""
        deadline = time.monotonic() + timeout
        while True:
            code = process.poll()
            if code is not None:
                self._drain()
                if "address already in use" in self.output.lower():
                    return False
                raise ServerFailed(f"the server exited with {code} on start-up\n{self.output}")
            try:
                if client.get(self.url + "/healthz").status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise ServerFailed(
                    f"/healthz did not answer 200 within {timeout:.0f} s\n{self.output}"
                )
            time.sleep(POLL_INTERVAL)

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit by itself; returns its exit code."""
        assert self.process is not None
        try:
            self.returncode = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ServerFailed(
                f"the server was still running after {timeout} s\n{self.output}"
            ) from None
        self._drain()
        return self.returncode

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, as systemd and Docker stop it; SIGKILL if it does not exit in time."""
        if self.process is None:
            raise ServerFailed("the server was never started")
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise ServerFailed(
                    f"the server ignored SIGTERM for {timeout} s and was killed\n{self.output}"
                ) from None
        self.returncode = self.process.returncode
        self._drain()
        return self.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
            self.returncode = self.process.returncode
        self._drain()

    def _drain(self) -> None:
        for pipe in (self._stdout, self._stderr):
            if pipe is not None:
                pipe.join()

    def __enter__(self) -> RunningServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                self.stop()
            except ServerFailed:
                if exc is None:
                    raise


class WebSession:
    """An httpx client with the habits of a browser: cookies, and the CSRF token in forms."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=10.0, follow_redirects=False)

    def csrf(self) -> str:
        if "chatmina_csrf" not in self.client.cookies:
            self.client.get("/login")
        return str(self.client.cookies["chatmina_csrf"])

    def get(self, url: str) -> httpx.Response:
        return self.client.get(url)

    def submit(self, url: str, data: Mapping[str, str] | None = None) -> httpx.Response:
        return self.client.post(url, data={**(data or {}), "_csrf_token": self.csrf()})

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> WebSession:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def set_up_owner(client: httpx.Client, setup_url: str, email: str, password: str) -> None:
    """Create the first owner and workspace ("Acme Support") through the one-time setup
    link, as a browser would: the form first (for its CSRF cookie), then the post."""
    token = parse_qs(urlsplit(setup_url).query)["token"][0]
    client.get("/setup", params={"token": token}).raise_for_status()
    response = client.post(
        "/setup",
        data={
            "token": token,
            "name": "Olivia Owner",
            "email": email,
            "workspace": "Acme Support",
            "password": password,
            "password_confirm": password,
            "_csrf_token": client.cookies["chatmina_csrf"],
        },
    )
    assert response.status_code == 303, response.text
