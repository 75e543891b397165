"""The inbox stream over a real port: an agent sees new conversations, messages and the
visitor typing as they happen, and the visitor sees the agent's reply and typing."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from chatmina.accounts import service as accounts
from chatmina.conversations import stream
from chatmina.ui.context import Services
from tests.conftest import PASSWORD, Personas
from tests.conversations.conftest import Sites, api
from tests.conversations.sse import events, read_until
from tests.server_helpers import WebSession


def _agent(live: str, email: str) -> WebSession:
    session = WebSession(live)
    response = session.submit("/login", {"email": email, "password": PASSWORD})
    assert response.status_code == 303, response.text
    return session


def test_an_agent_sees_a_new_conversation_its_messages_and_typing_live(
    live: str, sites: Sites, personas: Personas
) -> None:
    bob = _agent(live, "bob@example.com")
    with httpx.Client(base_url=live, timeout=10) as visitor:
        token = visitor.post(api(sites.a, "/visitors"), json={}).json()["visitor_token"]
        auth = {"Authorization": f"Bearer {token}"}
        url = f"/w/{personas.a_slug}/inbox/events"
        with bob.client.stream("GET", url, timeout=10) as stream:
            assert stream.status_code == 200
            received = events(stream)
            body = {"content": "Is anyone there?", "client_id": str(uuid.uuid4())}
            posted = visitor.post(api(sites.a, "/messages"), json=body, headers=auth)
            cid = posted.json()["conversation"]["id"]
            # The transcript entry first (what an agent reads), then the list row.
            seen = read_until(received, lambda e: e.name == "conversation")
            assert [e.name for e in seen] == ["message", "conversation"]
            row = seen[1].data
            assert row["id"] == cid and row["state"] == "bot" and row["unread"] == 1
            assert f'id="conversation-{cid}"' in row["html"]
            message = seen[0].data
            assert message["conversation_id"] == cid and message["role"] == "visitor"
            assert "Is anyone there?" in message["html"] and 'class="message' in message["html"]
            visitor.post(api(sites.a, "/typing"), json={"active": True}, headers=auth)
            typing = read_until(received, lambda e: e.name == "typing")[-1].data
            assert typing == {"conversation_id": cid, "who": "visitor", "active": True}
    bob.close()


def test_the_visitor_sees_the_agents_typing_and_reply_live(
    live: str, sites: Sites, personas: Personas
) -> None:
    alice = _agent(live, "alice@example.com")
    with httpx.Client(base_url=live, timeout=10) as visitor:
        token = visitor.post(api(sites.a, "/visitors"), json={}).json()["visitor_token"]
        auth = {"Authorization": f"Bearer {token}"}
        body = {"content": "Need help", "client_id": str(uuid.uuid4())}
        cid = visitor.post(api(sites.a, "/messages"), json=body, headers=auth).json()[
            "conversation"
        ]["id"]
        visitor.post(api(sites.a, "/handoff"), json={}, headers=auth)
        with visitor.stream("GET", api(sites.a, "/events"), headers=auth) as stream:
            received = events(stream)
            first = next(received)
            assert first.data["state"] == "waiting"
            base = f"/w/{personas.a_slug}/inbox/{cid}"
            alice.submit(base + "/typing", {"active": "1"})
            typing = read_until(received, lambda e: e.name == "typing" and e.data["who"] == "agent")
            assert typing[-1].data == {"who": "agent", "name": "Alice", "active": True}
            reply: Any = alice.submit(
                base + "/reply", {"content": "Hi, I am here", "kind": "reply"}
            )
            assert reply.status_code == 303
            seen = read_until(received, lambda e: e.name == "message" and e.data["role"] == "agent")
            state = [e.data for e in seen if e.name == "conversation"]
            assert state and state[-1]["state"] == "assigned"
            assert state[-1]["assignee_name"] == "Alice"
            assert seen[-1].data["content"] == "Hi, I am here"
            assert seen[-1].data["author_name"] == "Alice"
            alice.submit(base + "/resolve")
            resolved = read_until(
                received, lambda e: e.name == "conversation" and e.data["state"] == "resolved"
            )
            assert resolved[-1].data["resolved_at"]
    alice.close()


def test_an_agent_removed_from_the_workspace_stops_receiving_the_live_inbox(
    live: str, sites: Sites, personas: Personas, services: Services, monkeypatch: Any
) -> None:
    # The stream re-checks the session and membership every RECHECK_S (20 s in use).
    monkeypatch.setattr(stream, "RECHECK_S", 0.2)
    bob = _agent(live, "bob@example.com")
    with bob.client.stream("GET", f"/w/{personas.a_slug}/inbox/events", timeout=10) as opened:
        assert opened.status_code == 200
        accounts.remove_member(services.db, personas.a_id, "owner", personas.bob_id)
        started = time.monotonic()
        remaining = list(opened.iter_lines())  # returns once the server ends the stream
    assert time.monotonic() - started < 5
    assert not any(line.startswith("event:") for line in remaining)
    bob.close()
