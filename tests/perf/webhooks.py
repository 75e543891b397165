"""Event webhook throughput: a real server drains a queue of signed deliveries to a local
receiver that verifies every signature with the standardwebhooks library.

The queue is filled first (through the event bus, as the features fill it), with more
deliveries than the run can send, then `chatmina serve` starts and its one-second tick
delivers. Targets: at least 500 deliveries/s sustained for 60 s (the slowest 10-second
window is reported too), server RSS at most 120 MB throughout.

    python -m tests.perf webhooks          # 60 s
    python -m tests.perf.webhooks --quick  # 10 s (or BENCH_QUICK=1)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from chatmina import clock
from chatmina.accounts import service as accounts
from chatmina.accounts.passwords import Passwords
from chatmina.app import build_services
from chatmina.events import Event
from chatmina.settings import load_settings
from chatmina.webhooks import service
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.perf.common import Result, rss_mb
from tests.server_helpers import RunningServer

MASTER_KEY = "7e" * 32
RATE_TARGET = 500.0
RSS_TARGET_MB = 120.0
HEADROOM = 3.0  # queued deliveries per second of run, over the target rate
WINDOW = 10


def _fill(data_dir: Path, receiver: WebhookReceiver, count: int) -> None:
    environ = {
        "CHATMINA_DATA_DIR": str(data_dir),
        "CHATMINA_MASTER_KEY": MASTER_KEY,
        "CHATMINA_PASSWORD_HASHING": "insecure-fast",
    }
    services = build_services(load_settings(environ))
    _, workspace = accounts.create_owner(
        services.db,
        Passwords("insecure-fast"),
        email="owner@example.com",
        name="Owner",
        password="correct horse battery staple",
        workspace_name="Bench",
    )
    service.save_private_hosts(services.db, workspace.id, receiver.address)
    _, secret = service.create_endpoint(
        services.db,
        services.keys,
        services.settings,
        workspace.id,
        service.EndpointInput(receiver.url(), ["message.created"]),
    )
    receiver.secrets.append(secret)
    done = 0
    while done < count:
        with services.db.write() as session:
            for n in range(done, min(done + 1000, count)):
                data = {"id": f"m_{n}", "conversation_id": f"c_{n // 10}", "text": "Hello " * 20}
                services.events.emit(
                    session, Event("message.created", workspace.id, data, clock.now())
                )
        done = min(done + 1000, count)
    services.db.checkpoint()
    services.db.close()


def run(seconds: int | None = None) -> list[Result]:
    quick = os.environ.get("BENCH_QUICK") == "1"
    seconds = seconds or (10 if quick else 60)
    queued = int(RATE_TARGET * HEADROOM * seconds) + 2000
    with tempfile.TemporaryDirectory(prefix="chatmina-bench-") as scratch, WebhookReceiver() as rx:
        rx.keep_log = False
        data_dir = Path(scratch) / "data"
        _fill(data_dir, rx, queued)
        server = RunningServer(
            data_dir, master_key=MASTER_KEY, env={"CHATMINA_LOG_LEVEL": "warning"}
        )
        samples: list[tuple[float, int]] = []
        peak_rss = 0.0
        try:
            server.start()
            began = time.monotonic()
            while len(rx.processed) == 0 and time.monotonic() - began < 30:
                time.sleep(0.05)
            first = time.monotonic()
            while time.monotonic() - first < seconds and len(rx.processed) < queued:
                samples.append((time.monotonic() - first, len(rx.processed)))
                peak_rss = max(peak_rss, rss_mb(server.pid))
                time.sleep(1.0)
            samples.append((time.monotonic() - first, len(rx.processed)))
            peak_rss = max(peak_rss, rss_mb(server.pid))
        finally:
            server.stop()
        duplicates, rejected = rx.duplicates, len(rx.rejected)
    elapsed, delivered = samples[-1]
    rate = delivered / elapsed if elapsed else 0.0
    windows = [
        (b[1] - a[1]) / (b[0] - a[0])
        for a in samples
        for b in samples
        if WINDOW - 0.5 <= b[0] - a[0] <= WINDOW + 0.5
    ]
    details = {
        "seconds": round(elapsed, 1),
        "delivered": delivered,
        "queued": queued,
        "duplicates": duplicates,
        "rejected_signatures": rejected,
    }
    return [
        Result(
            "webhook_deliveries_per_s",
            rate,
            RATE_TARGET,
            "deliveries/s",
            lower_is_better=False,
            extra=details,
        ),
        Result(
            "webhook_slowest_10s_window_per_s",
            min(windows) if windows else rate,
            None,
            "deliveries/s",
            lower_is_better=False,
        ),
        Result("webhook_server_peak_rss_mb", peak_rss, RSS_TARGET_MB, "MB"),
    ]


if __name__ == "__main__":
    if "--quick" in sys.argv:
        os.environ["BENCH_QUICK"] = "1"
    for result in run():
        print(result.line(), flush=True)
