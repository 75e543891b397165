"""Widget fixtures: workspace A's and B's public ids, visitors, and recorded events."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from chatmina.accounts.models import Workspace
from chatmina.conversations.models import Message
from chatmina.events import Event
from chatmina.ui.context import Services
from tests.assistant.conftest import help_center, live, model  # noqa: F401
from tests.conftest import Personas


@dataclass
class Sites:
    a: str  # workspace A's public id
    b: str


@pytest.fixture
def sites(services: Services, personas: Personas) -> Sites:
    with services.db.read() as s:
        a = s.scalar(select(Workspace.public_id).where(Workspace.id == personas.a_id))
        b = s.scalar(select(Workspace.public_id).where(Workspace.id == personas.b_id))
    assert a and b
    return Sites(a, b)


def api(public_id: str, route: str = "") -> str:
    return f"/api/widget/v1/{public_id}{route}"


def new_visitor(client: Any, public_id: str, **body: Any) -> str:
    response = client.post(api(public_id, "/visitors"), json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["visitor_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def say(client: Any, public_id: str, token: str, content: str, client_id: str = "") -> Any:
    body = {"content": content, "client_id": client_id or str(uuid.uuid4())}
    return client.post(api(public_id, "/messages"), json=body, headers=bearer(token))


@dataclass
class Recorded:
    event: Event
    in_transaction: bool


@pytest.fixture
def recorded(services: Services) -> list[Recorded]:
    """Every event emitted, and whether a write transaction was open when it was."""
    found: list[Recorded] = []

    def record(session: Session, event: Event) -> None:
        found.append(Recorded(event, session.in_transaction()))

    services.events.subscribe(record)
    return found


def wait_for(check: Any, timeout: float = 10.0) -> Any:
    """Poll ``check`` until it returns something truthy (answers run in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def stored(services: Services, workspace_id: int) -> list[tuple[str, str]]:
    """Every message of the workspace, (role, content), oldest first."""
    with services.db.read() as s:
        rows = s.execute(
            select(Message.role, Message.content)
            .where(Message.workspace_id == workspace_id)
            .order_by(Message.id)
        ).all()
    return [(r.role, r.content) for r in rows]


def answered(services: Services, workspace_id: int, count: int) -> Any:
    """Waits until the workspace holds ``count`` assistant messages; returns all messages."""
    return wait_for(
        lambda: (
            (m := stored(services, workspace_id))
            and sum(r == "assistant" for r, _ in m) >= count
            and m
        )
    )
