"""The inbox pages: lists, transcript, the agent's actions, and who may see what."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from chatmina import clock
from chatmina.conversations import routing
from chatmina.conversations import service as conversations
from chatmina.conversations.inbox import LIST_LIMIT, browser_summary
from chatmina.conversations.models import Conversation
from chatmina.conversations.service import AnswerRecord
from chatmina.ui.context import Services
from tests.conftest import Personas
from tests.conversations.conftest import Sites, api, bearer, new_visitor, say, wait_for


def start(client: Any, sites: Sites, text: str = "Hello", **visitor: Any) -> tuple[str, int]:
    """A visitor's conversation in A, once the assistant has answered its first message."""
    token = new_visitor(client, sites.a, **visitor)
    cid = int(say(client, sites.a, token, text).json()["conversation"]["id"])
    services = client.app.state.services
    wait_for(lambda: services.live.answers.running == 0)
    return token, cid


def row_ids(html: str) -> set[int]:
    return {int(n) for n in re.findall(r'id="conversation-(\d+)"', html)}


@pytest.fixture
def alice(client: Any, personas: Personas) -> Any:
    client.login("alice@example.com")
    return client


def test_lists_by_state_assignee_and_text(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    _, bot = start(client, sites, "Where is my parcel?")
    waiting_token, waiting = start(client, sites, "I want a human")
    client.post(api(sites.a, "/handoff"), json={}, headers=bearer(waiting_token))
    _, bobs = start(client, sites, "Refund for order 77")
    routing.assign(services.db, personas.a_id, bobs, personas.bob_id)
    _, done = start(client, sites, "Thanks, solved")
    routing.resolve(services.db, personas.a_id, done, personas.alice_id)
    client.login("alice@example.com")
    inbox = f"/w/{personas.a_slug}/inbox"
    assert row_ids(client.get(inbox).text) == {bot, waiting, bobs}
    assert row_ids(client.get(inbox, params={"view": "waiting"}).text) == {waiting}
    assert row_ids(client.get(inbox, params={"view": "assigned"}).text) == {bobs}
    assert row_ids(client.get(inbox, params={"view": "resolved"}).text) == {done}
    assert row_ids(client.get(inbox, params={"view": "all"}).text) == {bot, waiting, bobs, done}
    by_bob = client.get(inbox, params={"view": "all", "assignee": str(personas.bob_id)})
    assert row_ids(by_bob.text) == {bobs}
    nobody = client.get(inbox, params={"view": "open", "assignee": "none"})
    assert row_ids(nobody.text) == {bot, waiting}
    found = client.get(inbox, params={"view": "all", "q": "order 77"})
    assert row_ids(found.text) == {bobs}
    assert row_ids(client.get(inbox, params={"view": "all", "q": "100%_"}).text) == set()
    page = client.get(inbox).text
    assert 'id="count-waiting">1<' in page and 'id="count-resolved">1<' in page
    counts = client.get(inbox + "/counts").json()
    assert counts["waiting"] == counts["assigned"] == counts["bot"] == counts["resolved"] == 1
    assert counts["open"] == 3 and counts["all"] == 4 and counts["mine"] == 0


def test_unread_counts_until_an_agent_opens_the_conversation(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    token, cid = start(client, sites, "First")
    say(client, sites.a, token, "Second")
    client.login("bob@example.com")
    listing = client.get(f"/w/{personas.a_slug}/inbox").text
    assert 'aria-label="2 unread"' in listing and 'id="count-unread">2<' in listing
    client.get(f"/w/{personas.a_slug}/inbox/{cid}")
    listing = client.get(f"/w/{personas.a_slug}/inbox").text
    assert "unread" not in re.sub(r'id="count-unread">0<', "", listing).split("inbox__rows")[1]


def test_an_agent_with_the_conversation_open_marks_new_messages_read(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    token, cid = start(client, sites, "First")
    say(client, sites.a, token, "Second")
    client.login("bob@example.com")
    assert client.submit(f"/w/{personas.a_slug}/inbox/{cid}/read").status_code == 204
    listing = client.get(f"/w/{personas.a_slug}/inbox").text
    assert 'id="count-unread">0<' in listing


def test_the_transcript_shows_everything_with_sources_function_calls_and_notes(
    alice: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    _, cid = start(alice, sites, "Where is order 12?")
    record = AnswerRecord(
        content="It shipped yesterday [1].",
        outcome="answered",
        sources=[
            {"n": 1, "title": "Shipping", "url": "https://help.acme.test/shipping", "cited": True},
            {"n": 2, "title": "Refunds", "url": "https://help.acme.test/refunds", "cited": False},
        ],
        tool_calls=[{"name": "order_status", "arguments": '{"order": 12}', "ok": True}],
    )
    conversations.add_answer(services.db, personas.a_id, cid, record)
    routing.add_note(services.db, personas.a_id, cid, personas.bob_id, "Check the *courier*")
    page = alice.get(f"/w/{personas.a_slug}/inbox/{cid}").text
    transcript = page.split('id="transcript"')[1].split('id="visitor-typing"')[0]
    assert "Where is order 12?" in transcript and "It shipped yesterday [1]." in transcript
    assert 'href="https://help.acme.test/shipping"' in transcript
    assert "help.acme.test/refunds" not in transcript  # not cited
    assert "order_status" in transcript
    assert "Note by Bob" in transcript and "<em>courier</em>" in transcript


def test_a_reply_is_markdown_rendered_safely_and_takes_the_conversation(
    alice: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    token, cid = start(alice, sites)
    content = "Try **this** <script>alert(1)</script>"
    response = alice.submit(
        f"/w/{personas.a_slug}/inbox/{cid}/reply", {"content": content, "kind": "reply"}
    )
    assert response.status_code == 303
    page = alice.get(f"/w/{personas.a_slug}/inbox/{cid}").text
    assert "<strong>this</strong>" in page and "<script>alert(1)" not in page
    assert "&lt;script&gt;" in page
    state = alice.get(api(sites.a, "/conversation"), headers=bearer(token)).json()
    assert state["conversation"]["state"] == "assigned"
    assert state["conversation"]["assignee_name"] == "Alice"
    assert state["messages"][-1]["content"] == content  # the widget renders it safely
    assert state["messages"][-1]["author_name"] == "Alice"


@pytest.mark.parametrize("length", [2001, 25_000])
def test_a_too_long_reply_is_refused_next_to_the_composer_and_kept_for_editing(
    alice: Any, services: Services, personas: Personas, sites: Sites, length: int
) -> None:
    _, cid = start(alice, sites)
    long = "z" * length
    response = alice.submit(
        f"/w/{personas.a_slug}/inbox/{cid}/reply", {"content": long, "kind": "reply"}
    )
    assert response.status_code == 400
    assert f"A message is limited to 2,000 characters (this one has {length:,})" in response.text
    assert long in response.text  # what was typed is not lost
    roles = [m.role for m in conversations.messages(services.db, personas.a_id, cid)]
    assert roles == ["visitor", "assistant"]


def test_notes_stay_internal(
    alice: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    token, cid = start(alice, sites)
    alice.submit(f"/w/{personas.a_slug}/inbox/{cid}/reply", {"content": "VIP", "kind": "note"})
    alice.submit(f"/w/{personas.a_slug}/inbox/{cid}/note", {"content": "Second note"})
    roles = [m.role for m in conversations.messages(services.db, personas.a_id, cid)]
    assert roles == ["visitor", "assistant", "note", "note"]
    visible = alice.get(api(sites.a, "/conversation"), headers=bearer(token)).json()
    assert [m["role"] for m in visible["messages"]] == ["visitor", "assistant"]
    assert visible["conversation"]["state"] == "bot"  # a note takes nothing over


def test_assign_unassign_resolve_reopen_and_hand_back(
    alice: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    token, cid = start(alice, sites)
    base = f"/w/{personas.a_slug}/inbox/{cid}"

    def state() -> tuple[str, str | None]:
        body = alice.get(api(sites.a, "/conversation"), headers=bearer(token)).json()
        return body["conversation"]["state"], body["conversation"]["assignee_name"]

    assert alice.submit(base + "/assign", {"assignee": "me"}).status_code == 303
    assert state() == ("assigned", "Alice")
    alice.submit(base + "/assign", {"assignee": str(personas.bob_id)})
    assert state() == ("assigned", "Bob")
    alice.submit(base + "/unassign")
    assert state() == ("waiting", None)
    alice.submit(base + "/resolve")
    assert state()[0] == "resolved"
    refused = alice.submit(base + "/reply", {"content": "late", "kind": "reply"})
    assert refused.status_code == 409 and "reopen it to reply" in refused.text
    alice.submit(base + "/reopen")
    assert state() == ("waiting", None)
    alice.submit(base + "/hand-back")
    assert state() == ("bot", None)
    stranger = alice.submit(base + "/assign", {"assignee": str(personas.charlie_id)})
    assert stranger.status_code == 400 and "member of this workspace" in stranger.text
    assert state() == ("bot", None)
    garbled = alice.submit(base + "/assign", {"assignee": "bob"})
    assert garbled.status_code == 400 and "Choose a member of this workspace." in garbled.text
    assert f'data-conversation="{cid}"' in garbled.text  # said on the conversation's page
    assert state() == ("bot", None)
    # Who moved the conversation is in the workspace's audit log.
    from chatmina.privacy import service as privacy

    recent = privacy.recent(services.db, personas.a_id)
    actions = [e.action for e in recent if e.action.startswith("conversation.")]
    assert actions == [
        "conversation.handed_back",
        "conversation.reopened",
        "conversation.resolved",
        "conversation.unassigned",
        "conversation.assigned",
        "conversation.assigned",
    ]  # newest first; the refused reply and the refused assignment left nothing


def test_the_visitor_panel_shows_verified_identity_page_and_browser(
    alice: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    from chatmina.conversations import visitors
    from tests.conversations.test_api import configure_widget

    config = configure_widget(services, personas.a_id, identity_verification="optional")
    user = {
        "id": "u-7",
        "email": "dana@example.com",
        "name": "Dana",
        "hash": visitors.identity_hash(config.identity_secret, "u-7"),
    }
    token = new_visitor(alice, sites.a, user=user)
    body = {"content": "Hi", "client_id": "c-1", "page_url": "https://shop.example.com/cart"}
    cid = alice.post(
        api(sites.a, "/messages"),
        json=body,
        headers={**bearer(token), "User-Agent": "TestBrowser/1.0"},
    ).json()["conversation"]["id"]
    page = alice.get(f"/w/{personas.a_slug}/inbox/{cid}").text
    panel = page.split('aria-label="Visitor"')[1]
    assert "dana@example.com" in panel and "Verified" in panel and "u-7" in panel
    assert "https://shop.example.com/cart" in panel and "TestBrowser/1.0" in panel
    assert "First seen" in panel and "<time" in panel


# -- who may see what ----------------------------------------------------------------------

ACTIONS = [
    "reply",
    "note",
    "assign",
    "unassign",
    "resolve",
    "reopen",
    "hand-back",
    "typing",
    "read",
]


def test_a_stranger_gets_404_on_every_inbox_route_and_nothing_changes(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    token, cid = start(client, sites, "Private question")
    before = conversations.messages(services.db, personas.a_id, cid)
    client.login("charlie@example.com")
    for slug in (personas.a_slug, personas.b_slug):  # A's pages, and A's id inside B
        base = f"/w/{slug}/inbox"
        assert client.get(f"{base}/{cid}").status_code == 404
        if slug == personas.a_slug:
            assert client.get(f"{base}/counts").status_code == 404
        for action in ACTIONS:
            data = {"content": "taken over", "assignee": "me", "active": "1"}
            response = client.submit(f"{base}/{cid}/{action}", data)
            assert response.status_code == 404, (slug, action)
    assert client.get(f"/w/{personas.a_slug}/inbox").status_code == 404
    assert client.get(f"/w/{personas.a_slug}/inbox/events").status_code == 404
    assert client.get(f"/w/{personas.a_slug}/widget").status_code == 404
    own = client.get(f"/w/{personas.b_slug}/inbox", params={"view": "all"})
    assert own.status_code == 200 and "Private question" not in own.text
    assert row_ids(own.text) == set()
    after = conversations.messages(services.db, personas.a_id, cid)
    assert [m.id for m in after] == [m.id for m in before]
    state = client.get(api(sites.a, "/conversation"), headers=bearer(token)).json()
    assert state["conversation"]["state"] == "bot"


def test_b_widget_conversations_never_show_in_a(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    b_token = new_visitor(client, sites.b)
    b_cid = say(client, sites.b, b_token, "Bravo secret").json()["conversation"]["id"]
    client.login("alice@example.com")
    assert "Bravo secret" not in client.get(f"/w/{personas.a_slug}/inbox?view=all").text
    assert client.get(f"/w/{personas.a_slug}/inbox/{b_cid}").status_code == 404
    assert client.submit(f"/w/{personas.a_slug}/inbox/{b_cid}/resolve").status_code == 404


def test_playground_conversations_are_not_in_the_inbox(
    alice: Any, services: Services, personas: Personas
) -> None:
    cid, _ = conversations.add_question(services.db, personas.a_id, None, "playground", "Test")
    assert alice.get(f"/w/{personas.a_slug}/inbox/{cid}").status_code == 404


def test_an_agent_uses_the_inbox_but_not_the_widget_settings(
    client: Any, personas: Personas, sites: Sites
) -> None:
    _, cid = start(client, sites)
    client.login("bob@example.com")
    assert client.get(f"/w/{personas.a_slug}/inbox/{cid}").status_code == 200
    assert client.submit(f"/w/{personas.a_slug}/inbox/{cid}/assign").status_code == 303
    assert client.get(f"/w/{personas.a_slug}/widget").status_code == 403
    assert client.submit(f"/w/{personas.a_slug}/widget", {"title": "x"}).status_code == 403
    nav = client.get(f"/w/{personas.a_slug}/inbox").text
    assert f'href="/w/{personas.a_slug}/inbox"' in nav
    assert f'href="/w/{personas.a_slug}/widget"' not in nav


def test_the_old_conversations_address_leads_to_the_inbox(alice: Any, personas: Personas) -> None:
    response = alice.get(f"/w/{personas.a_slug}/conversations", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/w/{personas.a_slug}/inbox"


def test_a_long_list_pages_older_conversations_with_the_filters_kept(
    alice: Any, services: Services, personas: Personas
) -> None:
    start_at = clock.now()
    with services.db.write() as s:
        for n in range(LIST_LIMIT + 5):
            at = start_at + dt.timedelta(seconds=n)  # n = 0 is the oldest
            s.add(
                Conversation(
                    workspace_id=personas.a_id, channel="widget", state="waiting",
                    created_at=at, updated_at=at, last_message_at=at, preview=f"number {n}",
                )
            )  # fmt: skip
    first = alice.get(f"/w/{personas.a_slug}/inbox?view=open&q=")
    assert first.status_code == 200
    assert len(row_ids(first.text)) == LIST_LIMIT and "number 104" in first.text
    assert "number 4<" not in first.text and 'rel="next"' in first.text
    older = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert older is not None
    second = alice.get(older.group(1).replace("&amp;", "&"))
    assert len(row_ids(second.text)) == 5 and "number 0" in second.text
    assert 'rel="prev"' in second.text and 'rel="next"' not in second.text
    assert "view=open" in older.group(1)
    # A page number that is not one shows the first page, not an error.
    assert alice.get(f"/w/{personas.a_slug}/inbox?page=abc").status_code == 200


@pytest.mark.parametrize(
    ("user_agent", "shown"),
    [
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87", "Edge 126 on Windows"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
         "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari 17 on iOS"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0",
         "Firefox 127 on macOS"),
        ("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/126.0.0.0 Mobile Safari/537.36", "Chrome 126 on Android"),
        ("curl/8.5.0", "curl/8.5.0"),
    ],
)  # fmt: skip
def test_the_visitor_panel_names_the_browser_at_a_glance(user_agent: str, shown: str) -> None:
    assert browser_summary(user_agent) == shown


def test_the_list_shows_the_latest_message_as_plain_text(
    alice: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    _, cid = start(alice, sites)
    routing.reply(
        services.db, personas.a_id, cid, personas.bob_id,
        "## Refunds\n\nOpen **Billing**, press *Request refund* [1] (see [the guide](https://x.test)).",
    )  # fmt: skip
    html = alice.get(f"/w/{personas.a_slug}/inbox?view=all").text
    assert "Refunds Open Billing, press Request refund (see the guide)." in html
