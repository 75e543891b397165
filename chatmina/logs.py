"""Logs: one formatter for Chatmina, uvicorn, Litestar and the scheduler, plain or JSON.

JSON logs are one object per line with ``ts``, ``level``, ``logger``, ``message`` and any
extra fields given with ``extra={...}``, for log shippers (journald, Loki, Vector). Plain
logs are for people. Either way, link tokens never reach a log: query strings are cut from
request paths and ``token=…`` values are masked in messages.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from typing import Any, TextIO

FORMATS = ("plain", "json")
# Loggers that other libraries give handlers of their own; they go through ours instead.
_ROUTED = ("uvicorn", "uvicorn.error", "uvicorn.access", "litestar", "apscheduler")
# Chatter that says nothing to an operator at the info level (the model's HTTP client logs
# every request it makes).
_QUIET = (
    "apscheduler.scheduler",
    "apscheduler.executors",
    "alembic.runtime.plugins",
    "httpx",
    "httpx2",
    "httpcore",
    "httpcore2",
    "openai",
)
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)
_SECRET_IN_TEXT = re.compile(r"((?:token|key|password|secret)=)[^\s&\"']+", re.IGNORECASE)


def _mask(text: str) -> str:
    return _SECRET_IN_TEXT.sub(r"\1[hidden]", text)


class RequestFields(logging.Filter):
    """Turns uvicorn's access-log arguments into fields, without the query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            client, method, path, http_version, status = args
            path = str(path).split("?", 1)[0]
            record.args = (client, method, path, http_version, status)
            record.__dict__.update(client=client, method=method, path=path, status=status)
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _mask(record.getMessage()),
        }
        for key, value in _extras(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def formatMessage(self, record: logging.LogRecord) -> str:
        return _mask(super().formatMessage(record))


def setup_logging(level: str, fmt: str = "plain", stream: TextIO | None = None) -> None:
    """Send every log record to ``stream`` (standard error) in one format.

    Safe to call again: Litestar configures logging when an app is built, so ``serve``
    calls this once more after building it.
    """
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    handler.addFilter(RequestFields())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _ROUTED:
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    for name in _QUIET:
        quiet = logging.DEBUG if level.lower() == "debug" else logging.WARNING
        logging.getLogger(name).setLevel(quiet)
