"""Login latency over HTTP, with argon2id at the real default parameters.

The server runs with no CHATMINA_PASSWORD_HASHING, so the hash is the RFC 9106 low-memory
profile an installation uses (argon2id, t=3, m=64 MiB, p=4). Target: p50 at most 200 ms.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import httpx

from tests.perf.common import Result, median, percentile, rss_mb
from tests.server_helpers import RunningServer, set_up_owner

LOGINS = 20
P50_TARGET_MS = 200.0
EMAIL = "owner@example.com"
PASSWORD = "correct horse battery staple"


def _login(client: httpx.Client) -> float:
    client.cookies.delete("chatmina_session")
    began = time.perf_counter()
    response = client.post(
        "/login",
        data={"email": EMAIL, "password": PASSWORD, "_csrf_token": client.cookies["chatmina_csrf"]},
    )
    took = time.perf_counter() - began
    assert response.status_code == 303, response.text
    assert "chatmina_session" in response.cookies
    return took * 1000


def run() -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="chatmina-bench-") as scratch:
        server = RunningServer(Path(scratch) / "data", hashing=None)
        try:
            server.start()
            with httpx.Client(base_url=server.url, timeout=30) as client:
                set_up_owner(client, server.setup_url, EMAIL, PASSWORD)
                _login(client)  # warm-up: first use of the thread pool and connection pool
                times = [_login(client) for _ in range(LOGINS)]
            rss_after = rss_mb(server.pid)
        finally:
            server.stop()
    runs = [round(t, 1) for t in times]
    return [
        Result(
            "login_p50_ms",
            median(times),
            P50_TARGET_MS,
            "ms",
            extra={"logins": LOGINS, "hashing": "rfc9106-low-memory", "runs": runs},
        ),
        Result("login_p95_ms", percentile(times, 95), None, "ms", extra={"logins": LOGINS}),
        Result("rss_after_logins_mb", rss_after, None, "MB", extra={"logins": LOGINS + 1}),
    ]
