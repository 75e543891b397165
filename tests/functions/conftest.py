"""AI Function fixtures: 127.0.0.1 allowed as the operator of an appliance would allow it,
a real verifying receiver, and helpers to create functions in a workspace."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from chatmina.functions import service
from chatmina.functions.models import AiFunction, FunctionCall
from chatmina.functions.validation import Submitted, clean
from chatmina.settings import Settings
from chatmina.storage.keys import DB_FILE_NAME
from chatmina.ui.context import Services
from tests.conftest import make_settings
from tests.fakes.webhook_receiver import WebhookReceiver

ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"order_id": {"type": "string", "pattern": "^[0-9]{4,}$"}},
    "required": ["order_id"],
    "additionalProperties": False,
}


@pytest.fixture
def settings(tmp_path: Path, template_db: Path) -> Settings:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copyfile(template_db, data_dir / DB_FILE_NAME)
    return make_settings(data_dir, CHATMINA_ALLOWED_PRIVATE_HOSTS="127.0.0.1")


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """The business's endpoint; tests give it the function's secret once it exists."""
    with WebhookReceiver() as r:
        r.behave(body=b'{"status": "shipped", "eta": "tomorrow"}')
        yield r


def definition(url: str, **changes: Any) -> dict[str, Any]:
    """The JSON the API takes for an order-status function (a form's values, as a dict)."""
    data: dict[str, Any] = {
        "name": "order_status",
        "description": "Where an order is. Use when a visitor asks about their order.",
        "parameters": ORDER_SCHEMA,
        "url": url,
        "method": "POST",
        "timeout_seconds": 5,
        "headers": {"X-Api-Key": "shop-key-123456"},
        "enabled": True,
        "only_verified": False,
    }
    data.update(changes)
    return data


def make_function(
    services: Services, workspace_id: int, url: str, **changes: Any
) -> tuple[service.FunctionView, str]:
    data = definition(url, **changes)
    submitted = Submitted(**data)
    cleaned = clean(submitted, frozenset({"127.0.0.1"}))
    return service.create_function(services.db, services.keys, workspace_id, cleaned)


def counts(services: Services) -> tuple[int, int]:
    """(functions, logged calls) in the whole database."""
    with services.db.read() as s:
        functions = s.scalar(select(func.count()).select_from(AiFunction)) or 0
        logged = s.scalar(select(func.count()).select_from(FunctionCall)) or 0
    return int(functions), int(logged)


def logged_calls(services: Services) -> list[FunctionCall]:
    with services.db.read() as s:
        return list(s.scalars(select(FunctionCall).order_by(FunctionCall.id)).all())


# The answer engine's fixtures: workspace A's help center and the fake model as its own;
# the browser's, for test_browser.py (which brings its own server).
from tests.assistant.conftest import help_center, model  # noqa: E402, F401
from tests.browser.conftest import browser, chromium_path, new_visitor  # noqa: E402, F401
