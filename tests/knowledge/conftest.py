"""Knowledge fixtures: a few real articles in workspace A (and one in B), and counters of
every row an article owns, so tests can prove nothing was left half-written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from chatmina.knowledge import service
from chatmina.knowledge.index import vector_table
from chatmina.ui.context import Services
from tests.conftest import Personas

REFUNDS = """# Refunds

You can ask for a refund within 30 days of purchase.

## How to request a refund

Open **Billing**, choose the order and press *Request refund*. The money reaches your card
within five working days.

## Exceptions

Gift cards and custom engravings cannot be refunded.
"""

SHIPPING = """# Shipping

We ship to every country in the European Union.

## Delivery times

Parcels arrive in two to four days. Express delivery arrives the next working day when
ordered before noon.
"""

PASSWORD_RESET = """# Resetting your password

Use the *Forgot password* link on the sign-in page. The link in the email works for one hour.
"""


@dataclass
class Kb:
    services: Services
    personas: Personas
    refunds: int
    shipping: int
    reset_draft: int
    b_article: int

    def add(self, workspace_id: int, title: str, body: str, **kw: Any) -> int:
        data = service.ArticleInput(title=title, body=body, **kw)
        return service.create_article(
            self.services.db, self.services.vectors, workspace_id, data
        ).id

    def search(self, workspace_id: int, q: str, **kw: Any) -> list[service.Hit]:
        return service.search(self.services.db, self.services.vectors, workspace_id, q, **kw)


@pytest.fixture
def kb(services: Services, personas: Personas) -> Kb:
    def add(ws: int, title: str, body: str, **kw: Any) -> int:
        data = service.ArticleInput(title=title, body=body, **kw)
        return service.create_article(services.db, services.vectors, ws, data).id

    return Kb(
        services,
        personas,
        add(
            personas.a_id,
            "Refunds",
            REFUNDS,
            tags=("billing",),
            source_url="https://help.acme.test/refunds",
        ),
        add(personas.a_id, "Shipping", SHIPPING, tags=("orders",)),
        add(personas.a_id, "Resetting your password", PASSWORD_RESET, status="draft"),
        add(personas.b_id, "Bravo secret plan", "# Plan\n\nThe launch code word is pineapple."),
    )


def counts(services: Services, workspace_id: int | None = None) -> dict[str, int]:
    """Rows of every table an article writes to, for one workspace or all."""
    where = "" if workspace_id is None else f" WHERE workspace_id = {int(workspace_id)}"
    set_id = services.vectors.active.set_id
    with services.db.engine.connect() as conn:

        def one(sql: str) -> int:
            return int(conn.execute(text(sql)).scalar() or 0)

        chunk_ids = f"SELECT id FROM chunks{where}"
        return {
            "articles": one(f"SELECT count(*) FROM articles{where}"),
            "tags": one(f"SELECT count(*) FROM article_tags{where}"),
            "chunks": one(f"SELECT count(*) FROM chunks{where}"),
            # Contentless FTS5 keeps no rowid list to count; a full scan of its docsize table does.
            "fulltext": one(
                "SELECT count(*) FROM chunks_fts_docsize"
                + ("" if workspace_id is None else f" WHERE id IN ({chunk_ids})")
            ),
            "vectors": one(
                f"SELECT count(*) FROM {vector_table(set_id)}"
                + ("" if workspace_id is None else f" WHERE workspace_id = {int(workspace_id)}")
            ),
            "float_vectors": one(
                f"SELECT count(*) FROM chunk_vectors WHERE set_id = {set_id}"
                + ("" if workspace_id is None else f" AND chunk_id IN ({chunk_ids})")
            ),
        }


def assert_consistent(services: Services) -> None:
    """Every chunk has exactly one full-text row and one vector of each kind, and no orphans."""
    c = counts(services)
    assert c["chunks"] == c["fulltext"] == c["vectors"] == c["float_vectors"], c
