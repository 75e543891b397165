"""Start-up stays fast: what the server imports before its first request leaves out the
libraries only some requests need (each costs tens to hundreds of milliseconds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_IMPORT_LIKE_SERVE = """
import json, sys
import chatmina.app, chatmina.scheduler, chatmina.webhooks.jobs
heavy = ("httpx", "httpcore", "openai", "jsonschema", "stripe", "chatmina.net")
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


def test_the_app_and_its_schedule_load_without_the_outbound_http_stack() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_LIKE_SERVE],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert json.loads(done.stdout) == []
