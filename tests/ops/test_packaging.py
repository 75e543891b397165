"""The files in packaging/: the systemd unit is valid, and both reverse-proxy examples pass
Server-Sent Events on as they are written (a buffering proxy would hold them back)."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server_helpers import free_port

PACKAGING = Path(__file__).resolve().parent.parent.parent / "packaging"
GAP_S = 1.5  # between the upstream's two events


def _missing(reason: str) -> None:
    """Skipped on a developer's machine; in CI (which installs both proxies) a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


class _Events(http.server.BaseHTTPRequestHandler):
    """The network edge: an upstream that streams two events with a pause between them."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(b"data: first\n\n")
        self.wfile.flush()
        time.sleep(GAP_S)
        self.wfile.write(b"data: second\n\n")
        self.wfile.flush()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Events)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def _first_event_after(url: str) -> tuple[float, list[str]]:
    """Seconds until the first event arrives through the proxy, and all events."""
    deadline = time.monotonic() + 10
    while True:  # the proxy may still be starting
        try:
            began = time.monotonic()
            first = None
            events = []
            with httpx.stream("GET", url, timeout=10) as response:
                assert response.status_code == 200
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        first = first if first is not None else time.monotonic() - began
                        events.append(line.removeprefix("data: "))
            assert first is not None
            return first, events
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture
def run_proxy() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.terminate()
        process.wait(10)


def test_nginx_streams_events_as_they_come(
    upstream: int, tmp_path: Path, run_proxy: list[subprocess.Popen[bytes]]
) -> None:
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        _missing("nginx is not installed (apt-get install nginx-light)")
    port = free_port()
    site = (PACKAGING / "nginx" / "chatmina.conf").read_text()
    assert "include snippets/chatmina-proxy.conf;" in site
    (tmp_path / "snippets").mkdir()
    shutil.copy(PACKAGING / "nginx" / "chatmina-proxy.conf", tmp_path / "snippets")
    # The shipped proxy settings behind a plain-HTTP listener (no certificate here).
    (tmp_path / "nginx.conf").write_text(
        f"""
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
daemon off;
events {{}}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    upstream chatmina {{ server 127.0.0.1:{upstream}; }}
    server {{
        listen 127.0.0.1:{port};
        include {tmp_path}/snippets/chatmina-proxy.conf;
    }}
}}
"""
    )
    run_proxy.append(
        subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")])
    )
    first, events = _first_event_after(f"http://127.0.0.1:{port}/events")
    assert events == ["first", "second"]
    assert first < GAP_S / 2, f"the first event waited {first:.2f} s in the proxy"


def test_caddy_streams_events_as_they_come(
    upstream: int, tmp_path: Path, run_proxy: list[subprocess.Popen[bytes]]
) -> None:
    caddy = shutil.which("caddy")
    if caddy is None:
        _missing("caddy is not installed (apt-get install caddy)")
    port = free_port()
    shipped = (PACKAGING / "caddy" / "Caddyfile").read_text()
    assert "support.example.com {" in shipped and "127.0.0.1:8000" in shipped
    config = shipped.replace("support.example.com {", f"http://127.0.0.1:{port} {{").replace(
        "127.0.0.1:8000", f"127.0.0.1:{upstream}"
    )
    (tmp_path / "Caddyfile").write_text("{\n\tadmin off\n}\n" + config)
    run_proxy.append(
        subprocess.Popen(
            [caddy, "run", "--config", str(tmp_path / "Caddyfile"), "--adapter", "caddyfile"],
            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    first, events = _first_event_after(f"http://127.0.0.1:{port}/events")
    assert events == ["first", "second"]
    assert first < GAP_S / 2, f"the first event waited {first:.2f} s in the proxy"


def test_the_systemd_unit_is_valid_and_hardened(tmp_path: Path) -> None:
    unit = (PACKAGING / "systemd" / "chatmina.service").read_text()
    for directive in (
        "User=chatmina",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "CapabilityBoundingSet=\n",
        "KillSignal=SIGTERM",
        "LoadCredential=master-key:",
    ):
        assert directive in unit
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    (tmp_path / "chatmina.service").write_text(unit)
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(tmp_path / "chatmina.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if "Unknown" in line or "Invalid" in line or "Failed to parse" in line
    ]
    assert problems == []
