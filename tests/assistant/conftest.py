"""Answer-engine fixtures: a help center in workspace A, the fake model wired to it, and
Chatmina itself on a real port for the official ``openai`` client."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from litestar import Litestar

from chatmina.assistant import service as assistant
from chatmina.knowledge import service as knowledge
from chatmina.ui.context import Services
from tests.conftest import Personas
from tests.fakes.openai_server import FakeOpenAI
from tests.server_helpers import free_port

ARTICLES = {
    "Refunds": (
        "https://help.acme.test/refunds",
        "# Refunds\n\nYou can ask for a refund within 30 days of purchase.\n\n"
        "## How to request a refund\n\nOpen Billing, choose the order and press Request "
        "refund. The money reaches your card within five working days.\n\n"
        "## Exceptions\n\nGift cards and custom engravings cannot be refunded.\n",
    ),
    "Shipping": (
        "https://help.acme.test/shipping",
        "# Shipping\n\nWe ship to every country in the European Union.\n\n"
        "## Delivery times\n\nParcels arrive in two to four days. Express delivery arrives "
        "the next working day when ordered before noon.\n",
    ),
    "Resetting your password": (
        "https://help.acme.test/password",
        "# Resetting your password\n\nUse the Forgot password link on the sign-in page. "
        "The link in the email works for one hour.\n",
    ),
}


@pytest.fixture
def help_center(services: Services, personas: Personas) -> dict[str, int]:
    """Workspace A's articles by title; workspace B gets one of its own."""
    ids = {}
    for title, (url, body) in ARTICLES.items():
        data = knowledge.ArticleInput(title=title, body=body, source_url=url)
        ids[title] = knowledge.create_article(services.db, services.vectors, personas.a_id, data).id
    secret = knowledge.ArticleInput(
        title="Bravo internal pricing", body="# Pricing\n\nBravo refunds cost 99 euros."
    )
    knowledge.create_article(services.db, services.vectors, personas.b_id, secret)
    return ids


def configure(services: Services, workspace_id: int, **changes: Any) -> None:
    """Save workspace settings: the defaults, with these changes."""
    values: dict[str, Any] = {
        "assistant_name": "Mina",
        "tone": "friendly",
        "instructions": "",
        "knowledge_mode": "knowledge_only",
        "relevance_threshold": "0.5",
        "max_sources": "6",
        "max_tool_calls": "4",
    }
    values.update(changes)
    # The fake model listens on 127.0.0.1: allowed as the instance's operator would.
    form = assistant.AssistantForm(**values)
    assistant.save_config(services.db, services.keys, workspace_id, form, "127.0.0.1")


def configure_model(
    services: Services, workspace_id: int, fake: FakeOpenAI, **changes: Any
) -> None:
    """Workspace settings with the fake as the workspace's own model, plus these changes."""
    own = {"llm_base_url": fake.base_url, "llm_model": "gpt-4o-mini", "llm_api_key": "sk-acme"}
    configure(services, workspace_id, **{**own, **changes})


@pytest.fixture
def model(
    services: Services, personas: Personas, help_center: dict[str, int]
) -> Iterator[FakeOpenAI]:
    """The fake model, configured as workspace A's own (key stored encrypted)."""
    with FakeOpenAI(api_key="sk-acme") as fake:
        configure_model(services, personas.a_id, fake)
        yield fake


@pytest.fixture
def live(app: Litestar) -> Iterator[str]:
    """Chatmina on a real port (uvicorn in a thread); yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
