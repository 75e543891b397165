"""Who answers: the states of a conversation and the moves between them."""

from __future__ import annotations

from typing import Any

import pytest

from chatmina.conversations import routing
from chatmina.errors import Conflict, NotFound, UserError
from chatmina.ui.context import Services
from tests.conftest import Personas
from tests.conversations.conftest import Sites, api, bearer, new_visitor, say, stored, wait_for


def _conversation(client: Any, sites: Sites) -> tuple[str, int]:
    token = new_visitor(client, sites.a)
    cid = say(client, sites.a, token, "Hello").json()["conversation"]["id"]
    wait_for(lambda: client.app.state.services.live.answers.running == 0)
    return token, int(cid)


def _state(client: Any, sites: Sites, token: str) -> str:
    body = client.get(api(sites.a, "/conversation"), headers=bearer(token)).json()
    return str(body["conversation"]["state"])


def test_bot_waiting_assigned_resolved_and_back(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    token, cid = _conversation(client, sites)
    db, a = services.db, personas.a_id
    assert _state(client, sites, token) == "bot"
    client.post(api(sites.a, "/handoff"), json={}, headers=bearer(token))
    assert _state(client, sites, token) == "waiting"
    # Asking twice changes nothing.
    client.post(api(sites.a, "/handoff"), json={}, headers=bearer(token))
    assert _state(client, sites, token) == "waiting"
    routing.assign(db, a, cid, personas.bob_id)
    assert _state(client, sites, token) == "assigned"
    routing.resolve(db, a, cid, personas.bob_id)
    assert _state(client, sites, token) == "resolved"
    with pytest.raises(Conflict):
        routing.reply(db, a, cid, personas.bob_id, "too late")
    routing.reopen(db, a, cid)
    assert _state(client, sites, token) == "waiting"
    with pytest.raises(Conflict):
        routing.reopen(db, a, cid)
    routing.hand_back(db, a, cid)
    assert _state(client, sites, token) == "bot"


def test_after_a_hand_back_the_assistant_answers_again(
    client: Any, services: Services, personas: Personas, sites: Sites, help_center: Any
) -> None:
    token, cid = _conversation(client, sites)
    routing.assign(services.db, personas.a_id, cid, personas.bob_id)
    say(client, sites.a, token, "How do refunds work?")
    wait_for(lambda: services.live.answers.running == 0)
    assert [r for r, _ in stored(services, personas.a_id)] == ["visitor", "assistant", "visitor"]
    routing.hand_back(services.db, personas.a_id, cid)
    say(client, sites.a, token, "How long does shipping take?")
    wait_for(lambda: services.live.answers.running == 0)
    roles = [r for r, _ in stored(services, personas.a_id)]
    assert roles == ["visitor", "assistant", "visitor", "visitor", "assistant"]


def test_handoff_without_a_conversation_starts_one_waiting(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    token = new_visitor(client, sites.a)
    response = client.post(api(sites.a, "/handoff"), json={}, headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["conversation"]["state"] == "waiting"


def test_another_workspaces_conversation_cannot_be_moved(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    token, cid = _conversation(client, sites)
    db, b = services.db, personas.b_id
    for move in (
        lambda: routing.assign(db, b, cid, personas.charlie_id),
        lambda: routing.unassign(db, b, cid),
        lambda: routing.resolve(db, b, cid, personas.charlie_id),
        lambda: routing.reopen(db, b, cid),
        lambda: routing.hand_back(db, b, cid),
        lambda: routing.reply(db, b, cid, personas.charlie_id, "hi"),
        lambda: routing.add_note(db, b, cid, personas.charlie_id, "hi"),
        lambda: routing.mark_read(db, b, cid),
    ):
        with pytest.raises(NotFound):
            move()
    assert _state(client, sites, token) == "bot"


def test_only_members_can_be_assigned(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    token, cid = _conversation(client, sites)
    with pytest.raises(UserError, match="member of this workspace"):
        routing.assign(services.db, personas.a_id, cid, personas.charlie_id)
    assert _state(client, sites, token) == "bot"
