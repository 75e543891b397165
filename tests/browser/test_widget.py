"""The chat widget in a real browser, on the demo page a business's own site would look like.

A visitor asks, watches a cited answer stream in, asks for a person; an agent in a second
browser context sees it live in the inbox, replies, resolves; the visitor rates. Then what
goes wrong on real websites: oversized messages, a site that is not allowed, a forged
token, the network dropping mid-conversation, hostile Markdown, a flood of messages, and
a visitor who only uses the keyboard.

The model is the fake OpenAI-compatible server in this test process, configured for the
whole instance; Chatmina is a subprocess reaching it over HTTP.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Visitor
from tests.fakes.openai_server import FakeOpenAI, Say
from tests.server_helpers import RunningServer

pytestmark = pytest.mark.browser

API_KEY = "sk-widget-0123456789abcdef"
PASSWORD = "correct horse battery"
ANSWER = (
    "You can ask for a refund **within 30 days** of purchase [1]. Open Billing, choose the "
    "order and press Request refund; the money reaches your card within five working days [1]."
)
REFUND_URL = "https://help.acme.test/refunds"
LAUNCHER = "Chat with us"  # the default button label of the widget settings
# Records CSP violations from the first moment of every page, before the page's own scripts.
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""
STREAMING_WITH_TEXT = """() => {
  const host = document.querySelector('[data-chatmina]');
  const draft = host && host.shadowRoot.querySelector('[data-state="streaming"] .bubble');
  return draft !== null && draft !== undefined && draft.textContent.trim().length > 0;
}"""


@dataclass
class Site:
    """A running Chatmina with Alice's workspace "Acme Support" and one article."""

    server: RunningServer
    fake: FakeOpenAI
    public_id: str

    @property
    def demo_url(self) -> str:
        return f"{self.server.url}/demo/{self.public_id}"

    @property
    def api(self) -> str:
        return f"{self.server.url}/api/widget/v1/{self.public_id}"

    def stored(self, token: str) -> dict[str, Any]:
        """The visitor's conversation as the server has it (the API, with our own origin)."""
        response = httpx.get(
            self.api + "/conversation",
            headers={"authorization": f"Bearer {token}", "origin": self.server.url},
        )
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=API_KEY) as running:
        yield running


@pytest.fixture
def extra_env() -> dict[str, str]:
    return {}


@pytest.fixture
def server(tmp_path: Path, fake: FakeOpenAI, extra_env: dict[str, str]) -> Iterator[RunningServer]:
    """The instance's model is the fake one, which listens on this machine."""
    env = {
        "CHATMINA_ALLOWED_PRIVATE_HOSTS": "127.0.0.1",
        "CHATMINA_LLM_BASE_URL": fake.base_url,
        "CHATMINA_LLM_MODEL": "gpt-4o-mini",
        "CHATMINA_LLM_API_KEY": API_KEY,
        **extra_env,
    }
    with RunningServer(tmp_path / "data", env=env) as running:
        yield running


def _form(client: httpx.Client, url: str, data: dict[str, str]) -> httpx.Response:
    client.get(url)  # the form first, for its CSRF cookie
    response = client.post(url, data={**data, "_csrf_token": client.cookies["chatmina_csrf"]})
    assert response.status_code == 303, response.text
    return response


@pytest.fixture
def site(server: RunningServer, fake: FakeOpenAI) -> Site:
    """Alice sets up Acme Support and writes the refunds article (over HTTP: it is not what
    these tests are about)."""
    token = parse_qs(urlsplit(server.setup_url).query)["token"][0]
    with httpx.Client(base_url=server.url, timeout=10) as client:
        client.get("/setup", params={"token": token})
        response = client.post(
            "/setup",
            data={
                "token": token,
                "name": "Alice",
                "email": "alice@example.com",
                "workspace": "Acme Support",
                "password": PASSWORD,
                "password_confirm": PASSWORD,
                "_csrf_token": client.cookies["chatmina_csrf"],
            },
        )
        assert response.status_code == 303, response.text
        _form(
            client,
            "/w/acme-support/knowledge/new",
            {
                "title": "Refunds",
                "body": "# Refunds\n\nYou can ask for a refund within 30 days of purchase.\n\n"
                "## How to request a refund\n\nOpen Billing, choose the order and press "
                "Request refund.",
                "source_url": REFUND_URL,
                "published": "on",
            },
        )
        found = re.search(r"/demo/(wk_[0-9a-f]+)", client.get("/w/acme-support/widget").text)
        assert found, "the Widget settings page links to the demo page"
    return Site(server, fake, found.group(1))


# -- helpers -----------------------------------------------------------------------------


def open_widget(page: Page) -> None:
    page.get_by_role("button", name=LAUNCHER).click()
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.get_by_label("Your message")).to_be_focused()


def ask(page: Page, text: str) -> None:
    page.get_by_label("Your message").fill(text)
    page.get_by_label("Your message").press("Enter")


def transcript(page: Page) -> Any:
    return page.get_by_role("log")


def visitor_token(page: Page, site: Site) -> str:
    token = page.evaluate(f"localStorage.getItem('chatmina:{site.public_id}')")
    assert token, "the widget keeps the visitor token in localStorage"
    return str(token)


def sign_in(page: Page, email: str = "alice@example.com") -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page).to_have_url(re.compile(r"/w/acme-support/$"))


class OtherSite:
    """Another website (its own origin: another port) that pastes the widget's snippet."""

    def __init__(self, snippet: str) -> None:
        html = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Shop</title></head>"
            f"<body><h1>Another shop</h1>{snippet}</body></html>"
        ).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(html)))
                self.end_headers()
                self.wfile.write(html)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> OtherSite:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def snippet(site: Site) -> str:
    return (
        f'<script src="{site.server.url}/widget.js" data-workspace="{site.public_id}" '
        "async></script>"
    )


# -- the whole story ---------------------------------------------------------------------


def test_a_visitor_gets_a_streamed_cited_answer_then_a_person_then_rates(
    site: Site, new_visitor: Callable[[], Visitor]
) -> None:
    agent = new_visitor()
    sign_in(agent.page)
    agent.page.goto("/w/acme-support/inbox")
    expect(agent.page.locator("#inbox-empty")).to_be_visible()

    visitor = new_visitor()
    page = visitor.page
    page.add_init_script(WATCH_CSP)
    page.goto(site.demo_url)
    loaded = page.evaluate("performance.timeOrigin")
    open_widget(page)
    expect(page.get_by_text("Hi! How can we help you today?")).to_be_visible()

    site.fake.script(Say(ANSWER))
    site.fake.tokens_per_second = 20  # ~1.5 s: plenty of partial states
    ask(page, "How do I get a refund?")

    # Words appear while the answer is still being written, then the stored answer.
    page.wait_for_function(STREAMING_WITH_TEXT, timeout=5_000)
    answer = transcript(page).locator(".msg.assistant")
    expect(answer).to_have_count(1)
    expect(answer.locator(".bubble")).to_contain_text("within five working days")
    expect(answer.locator("strong")).to_have_text("within 30 days")
    citations = answer.locator("a.cite")
    expect(citations).to_have_count(2)
    expect(citations.first).to_have_text("[1]")
    expect(citations.first).to_have_attribute("href", REFUND_URL)
    expect(citations.first).to_have_attribute("rel", re.compile(r"noopener.*nofollow"))
    expect(answer.get_by_role("list", name="Sources").get_by_role("link")).to_have_text("Refunds")
    assert page.evaluate("performance.timeOrigin") == loaded  # no page load: streamed
    expect(page.locator("[data-state=streaming]")).to_have_count(0)

    # Thumbs up is stored with the answer.
    answer.get_by_role("button", name="Helpful", exact=True).click()
    expect(answer.get_by_role("button", name="Helpful", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(page.get_by_role("status")).to_contain_text("Thanks for your feedback.")

    # The visitor asks for a person; the agent's inbox shows it without a reload.
    page.get_by_role("button", name="Talk to a person").click()
    expect(page.get_by_role("status")).to_contain_text("We have asked a person to join")
    token = visitor_token(page, site)
    stored = site.stored(token)
    assert stored["conversation"]["state"] == "waiting"
    assert [m["feedback"] for m in stored["messages"] if m["role"] == "assistant"] == ["up"]
    conversation_id = stored["conversation"]["id"]
    row = agent.page.locator(f"#conversation-{conversation_id}")
    expect(row).to_be_visible()
    expect(row).to_contain_text("Waiting")

    # The agent opens it and replies; the reply reaches the widget live.
    row.get_by_role("link").first.click()
    expect(agent.page.locator("#transcript")).to_contain_text("within five working days")
    agent.page.locator("#composer textarea[name=content]").fill(
        "Hello, this is Alice. I have **started** your refund."
    )
    agent.page.get_by_role("button", name="Send reply").click()
    reply = transcript(page).locator(".msg.agent")
    expect(reply).to_contain_text("Hello, this is Alice. I have started your refund.")
    expect(reply.locator("strong")).to_have_text("started")
    expect(reply.locator(".who")).to_have_text("Alice")
    expect(page.get_by_role("button", name="Talk to a person")).to_be_hidden()

    # The agent resolves; the visitor rates.
    agent.page.get_by_role("button", name="Resolve").click()
    rating = page.get_by_role("group", name="How did we do?")
    expect(rating).to_be_visible()
    rating.get_by_role("radio", name="4 of 5 stars").check()
    rating.get_by_label("Anything to add? (optional)").fill("Quick and kind.")
    rating.get_by_role("button", name="Send rating").click()
    expect(page.get_by_text("Thank you for your rating.")).to_be_visible()
    assert site.stored(token)["conversation"]["rating"] == 4

    # Everything is still there after a reload: the same visitor, the same transcript.
    page.reload()
    open_widget(page)
    expect(transcript(page).locator(".msg")).to_have_count(3)
    expect(transcript(page).locator(".msg.agent")).to_contain_text("started your refund")
    expect(page.get_by_role("group", name="How did we do?")).to_have_count(0)
    assert visitor_token(page, site) == token

    assert page.evaluate("window.__cspViolations") == []
    visitor.assert_no_console_errors()
    agent.assert_no_console_errors()
