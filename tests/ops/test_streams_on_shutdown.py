"""SIGTERM while a browser follows an import's live progress (Server-Sent Events) and the
import waits on a slow website: the stream ends, and the server still exits 0 promptly."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import MASTER_KEY, PASSWORD
from tests.server_helpers import RunningServer, set_up_owner

STOP_WITHIN_S = 3.0


class _Slow(http.server.BaseHTTPRequestHandler):
    """The network edge: a help center that takes far longer to answer than a stop may."""

    release = threading.Event()

    def do_GET(self) -> None:
        self.release.wait(60)
        self.send_response(200)
        self.send_header("Content-Type", "text/markdown")
        self.end_headers()
        self.wfile.write(b"# Late\n\nAn answer that came too late.\n")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_site() -> Iterator[int]:
    _Slow.release.clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    _Slow.release.set()
    server.shutdown()
    server.server_close()


def test_sigterm_ends_live_streams_and_does_not_wait_for_a_slow_import(
    tmp_path: Path, slow_site: int
) -> None:
    server = RunningServer(
        tmp_path / "data",
        master_key=MASTER_KEY,
        env={"CHATMINA_ALLOWED_PRIVATE_HOSTS": f"127.0.0.1:{slow_site}"},
    ).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            set_up_owner(client, server.setup_url, "olivia@example.com", PASSWORD)
            client.get("/w/acme-support/knowledge/import")
            started = client.post(
                "/w/acme-support/knowledge/import/url",
                data={
                    "url": f"http://127.0.0.1:{slow_site}/refunds.md",
                    "publish": "on",
                    "_csrf_token": client.cookies["chatmina_csrf"],
                },
            )
            assert started.status_code == 303, started.text
            events_url = started.headers["location"] + "/events"

            received: list[str] = []
            ended = threading.Event()

            def follow() -> None:
                try:
                    with client.stream("GET", events_url, timeout=30) as stream:
                        for line in stream.iter_lines():
                            if line.startswith("data:"):
                                received.append(line)
                except httpx.HTTPError:
                    pass  # a cut connection is an ending too
                ended.set()

            threading.Thread(target=follow, daemon=True).start()
            deadline = time.monotonic() + 10
            while not received and time.monotonic() < deadline:
                time.sleep(0.05)
            assert received, "no progress event arrived"
            assert '"running"' in received[0]

            began = time.monotonic()
            code = server.stop(timeout=STOP_WITHIN_S + 5)
            took = time.monotonic() - began
            assert ended.wait(2), "the stream was still open after the server stopped"
    finally:
        if server.process is not None and server.process.poll() is None:
            server.kill()
    assert code == 0, server.output
    assert took < STOP_WITHIN_S, f"stopping took {took:.1f} s\n{server.output}"
    assert "Traceback" not in server.output
