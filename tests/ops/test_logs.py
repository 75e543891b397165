"""Logs: one format for everything, JSON on request, never a link token."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chatmina.logs import setup_logging
from tests.conftest import MASTER_KEY
from tests.ops.helpers import chatmina
from tests.server_helpers import RunningServer


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers = handlers
    root.setLevel(level)


def test_json_lines_carry_time_level_logger_message_and_extras(restore_logging: None) -> None:
    out = io.StringIO()
    setup_logging("info", "json", out)
    logging.getLogger("chatmina.test").info(
        "backup written to %s", "/srv/b.db", extra={"backup": "/srv/b.db"}
    )
    logging.getLogger("chatmina.test").debug("not at info")
    [line] = out.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "info"
    assert entry["logger"] == "chatmina.test"
    assert entry["message"] == "backup written to /srv/b.db"
    assert entry["backup"] == "/srv/b.db"
    assert entry["ts"].endswith("+00:00")


def test_tokens_in_messages_are_hidden(restore_logging: None) -> None:
    out = io.StringIO()
    setup_logging("info", "plain", out)
    logging.getLogger("chatmina.test").warning("open /setup?token=s3cr3t-value&x=1 now")
    assert "s3cr3t" not in out.getvalue()
    assert "token=[hidden]" in out.getvalue()


def test_the_server_logs_json_with_the_access_log_and_without_query_strings(
    tmp_path: Path,
) -> None:
    server = RunningServer(
        tmp_path / "data",
        master_key=MASTER_KEY,
        env={"CHATMINA_LOG_FORMAT": "json", "CHATMINA_ACCESS_LOG": "true"},
    )
    with server:
        httpx.get(server.url + "/healthz?token=do-not-log-me").raise_for_status()
    entries = []
    for line in server.stderr_lines:
        if line.startswith("{"):
            entries.append(json.loads(line))
    loggers = {e["logger"] for e in entries}
    assert {"uvicorn.error", "uvicorn.access"} <= loggers, server.output
    access = [e for e in entries if e["logger"] == "uvicorn.access" and e["path"] == "/healthz"]
    assert access and all(e["method"] == "GET" and e["status"] == 200 for e in access)
    assert "do-not-log-me" not in server.output
    # Whatever is not JSON is the start-up banner and the setup link, printed for people.
    others = [line for line in server.stderr_lines if not line.startswith("{") and line.strip()]
    assert all("Chatmina" in line or "setup" in line or "account" in line for line in others), (
        others
    )


def test_log_flags_override_the_environment(tmp_path: Path) -> None:
    result = chatmina(
        tmp_path / "data",
        "--log-format",
        "json",
        "--log-level",
        "warning",
        "config",
        CHATMINA_LOG_FORMAT="plain",
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"CHATMINA_LOG_FORMAT +json +\(command line\)", result.stdout)
    assert re.search(r"CHATMINA_LOG_LEVEL +warning +\(command line\)", result.stdout)
