"""The inbox in a real browser: the list follows its filter live, the open conversation
gets new messages and state changes without a reload and stays read, all under the
Content Security Policy.

Visitors here talk to the widget API directly (httpx); tests/browser/test_widget.py
drives the widget itself.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Visitor
from tests.server_helpers import RunningServer, set_up_owner

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
SLUG = "acme-support"


@pytest.fixture
def public_id(server: RunningServer) -> str:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        set_up_owner(client, server.setup_url, "olivia@example.com", PASSWORD)
        page = client.get(f"/w/{SLUG}/widget").text
    found = re.search(r"data-workspace=(?:&#34;|&quot;|\")(wk_\w+)", page)
    assert found, "no public id on the widget page"
    return found.group(1)


@pytest.fixture
def visitor_api(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def sign_in(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill("olivia@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/w/"))


class Chat:
    def __init__(self, client: httpx.Client, public_id: str) -> None:
        self.client = client
        self.base = f"/api/widget/v1/{public_id}"
        token = client.post(self.base + "/visitors", json={}).json()["visitor_token"]
        self.auth = {"Authorization": f"Bearer {token}"}
        self.conversation_id = 0

    def say(self, text: str) -> None:
        body = {"content": text, "client_id": str(uuid.uuid4())}
        response = self.client.post(self.base + "/messages", json=body, headers=self.auth)
        assert response.status_code == 202, response.text
        self.conversation_id = response.json()["conversation"]["id"]

    def ask_for_a_person(self) -> None:
        response = self.client.post(self.base + "/handoff", json={}, headers=self.auth)
        assert response.status_code == 200, response.text


def test_the_waiting_list_fills_live_and_an_open_conversation_stays_read(
    new_visitor: Visitor, public_id: str, visitor_api: httpx.Client
) -> None:
    agent = new_visitor()  # type: ignore[operator]
    page = agent.page
    sign_in(page)
    dana = Chat(visitor_api, public_id)
    dana.say("Where is my parcel?")
    page.goto(f"/w/{SLUG}/inbox?view=waiting")
    expect(page.locator(f"#conversation-{dana.conversation_id}")).to_have_count(0)

    # Another visitor starts chatting: with the assistant, so not in "waiting".
    eli = Chat(visitor_api, public_id)
    eli.say("Do you ship to Norway?")
    page.wait_for_timeout(300)
    expect(page.locator(f"#conversation-{eli.conversation_id}")).to_have_count(0)
    # Dana asks for a person: her conversation joins the list without a reload.
    dana.ask_for_a_person()
    row = page.locator(f"#conversation-{dana.conversation_id}")
    expect(row).to_be_visible()
    expect(row).to_contain_text("Waiting")
    expect(page.locator("#count-waiting")).to_have_text("1")  # the tabs count along
    expect(page.locator("#count-bot")).to_have_text("1")
    expect(page).to_have_title("(1) Inbox · Chatmina")  # seen from another browser tab too
    expect(page.get_by_role("heading", level=1)).to_have_text("Inbox")

    row.get_by_role("link").click()
    expect(page.locator("#transcript")).to_contain_text("Where is my parcel?")
    page.get_by_role("button", name="Assign to me").click()
    expect(page.locator("#conversation-state")).to_have_text("Assigned")
    expect(page).to_have_title("Inbox · Chatmina")  # nobody waits any more
    # Assigned, it leaves the waiting list but stays open here.
    expect(page.locator(f"#conversation-{dana.conversation_id}")).to_have_count(0)

    dana.say("It was order 1234")
    entry = page.locator("#transcript .message[data-role=visitor]").last
    expect(entry).to_contain_text("It was order 1234")
    # The agent has it open, so it is read; Eli's, never opened, is not.
    page.wait_for_timeout(500)
    page.goto(f"/w/{SLUG}/inbox?view=all")
    unread = ".inbox-row__unread"
    expect(page.locator(f"#conversation-{dana.conversation_id} {unread}")).to_have_count(0)
    expect(page.locator(f"#conversation-{eli.conversation_id} {unread}")).to_have_text("1")
    expect(page.locator("#count-unread")).to_have_text("1")
    agent.assert_no_console_errors()
