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

import base64
import hashlib
import hmac
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

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
LAUNCHER = "Chat with us"
# A 1x1 transparent PNG: the avatar a test serves instead of a host on the internet.
PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)  # the default button label of the widget settings
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


@pytest.fixture(autouse=True)
def _patient_expectations() -> Iterator[None]:
    """Answers come from a model behind a search; on a machine busy with other test runs
    that can take longer than Playwright's default 5 s, which would fail a test of correct
    behaviour. Still bounded: a widget that never shows the answer fails."""
    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=5_000)


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
    open_widget_named(page, LAUNCHER, "Your message")


def open_widget_named(page: Page, launcher: str, message_label: str) -> None:
    page.get_by_role("button", name=launcher).click()
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.get_by_label(message_label)).to_be_focused()


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


# A careless site's CSS: it must not reach into the widget.
HOSTILE_CSS = (
    "* { font-size: 40px !important; color: red !important; } "
    "div, section, button, form, textarea { display: none !important; }"
)


class OtherSite:
    """Another website (its own origin: another port) that pastes the widget's snippet:
    on every page, or a page per path."""

    def __init__(self, snippet: str | dict[str, str]) -> None:
        self.snippets = dict(snippet) if isinstance(snippet, dict) else {"/": snippet}
        snippets = self.snippets

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                tag = snippets.get(self.path)
                if tag is None:
                    self.send_error(404)
                    return
                html = (
                    "<!doctype html><html><head><meta charset='utf-8'><title>Shop</title>"
                    f"<style>{HOSTILE_CSS}</style></head>"
                    f"<body><h1>Another shop</h1>{tag}</body></html>"
                ).encode()
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


def sign(secret: str, user_id: str) -> str:
    """What the business's backend computes for a signed-in user (docs/conversations.md)."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def snippet(site: Site, **user: str) -> str:
    """The install tag; user= adds the signed-in user's data-user-* attributes."""
    extra = "".join(f' data-user-{name}="{value}"' for name, value in user.items())
    return (
        f'<script src="{site.server.url}/widget.js" data-workspace="{site.public_id}"'
        f"{extra} async></script>"
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
    page.wait_for_function(STREAMING_WITH_TEXT, timeout=15_000)
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

    # The agent opens it; each sees the other typing.
    row.get_by_role("link").first.click()
    expect(agent.page.locator("#transcript")).to_contain_text("within five working days")
    page.get_by_label("Your message").fill("Thanks")
    expect(agent.page.locator("#visitor-typing")).to_be_visible()
    agent.page.locator("#composer textarea[name=content]").fill(
        "Hello, this is Alice. I have **started** your refund."
    )
    expect(page.get_by_role("status")).to_have_text("Alice is typing…")

    # The visitor closes the chat; the agent's reply arrives and is counted as unread.
    page.get_by_label("Your message").fill("")
    page.keyboard.press("Escape")
    agent.page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_role("button", name=f"{LAUNCHER} (1)")).to_be_visible()
    page.get_by_role("button", name=f"{LAUNCHER} (1)").click()
    expect(page.get_by_role("button", name=LAUNCHER, exact=True)).to_be_visible()
    reply = transcript(page).locator(".msg.agent")
    expect(reply).to_contain_text("Hello, this is Alice. I have started your refund.")
    expect(reply.locator("strong")).to_have_text("started")
    expect(reply.locator(".who")).to_have_text("Alice")
    expect(page.get_by_role("button", name="Talk to a person")).to_be_hidden()

    # The agent resolves; the visitor rates.
    agent.page.get_by_role("button", name="Resolve").click()
    rating = page.get_by_role("group", name="How did we do?")
    expect(rating).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("This conversation was resolved.")
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


# -- what goes wrong ---------------------------------------------------------------------


def test_an_oversized_message_is_refused_clearly_and_the_typed_text_is_kept(
    site: Site, new_visitor: Callable[[], Visitor]
) -> None:
    page = new_visitor().page
    page.goto(site.demo_url)
    open_widget(page)
    long = ("Please help me with my order, it has not arrived. " * 41).strip()
    assert len(long) > 2000
    ask(page, long)

    expect(page.get_by_role("alert")).to_have_text("A message is limited to 2,000 characters.")
    field = page.get_by_label("Your message")
    expect(field).to_have_value(long)
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(transcript(page).locator(".msg")).to_have_count(0)
    assert site.stored(visitor_token(page, site)) == {"conversation": None, "messages": []}

    # Shortened, the same text goes through and the error goes away.
    field.fill(long[:1990])
    field.press("Enter")
    expect(transcript(page).locator(".msg.visitor")).to_have_text(
        re.compile(re.escape(long[:1990].strip()))
    )
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(field).to_have_value("")


def test_a_site_that_is_not_allowed_gets_a_clear_error_and_nothing_is_stored(
    site: Site, new_visitor: Callable[[], Visitor]
) -> None:
    with OtherSite(snippet(site)) as other:
        page = new_visitor().page
        calls: list[str] = []
        page.on("request", lambda r: calls.append(f"{r.method} {r.url}"))
        page.goto(other.url)
        page.get_by_role("button", name="Open chat").click()
        expect(page.get_by_role("dialog")).to_contain_text("Chat is not enabled on this website.")
        expect(page.get_by_label("Your message")).to_have_count(0)
        widget_calls = [c for c in calls if "/api/widget/" in c]
        assert widget_calls == [f"GET {site.api}/config?locale=en-US"]

        # Nothing reached the inbox.
        agent = new_visitor()
        sign_in(agent.page)
        agent.page.goto("/w/acme-support/inbox")
        expect(agent.page.locator("#inbox-empty")).to_be_visible()

        # Alice allows the shop's origin: the same snippet now works there, across origins.
        agent.page.goto("/w/acme-support/widget")
        agent.page.get_by_label("Allowed origins").fill(other.url)
        agent.page.get_by_role("button", name="Save widget settings").click()
        expect(agent.page.get_by_role("status").first).to_contain_text("saved")
        page.reload()
        page.get_by_role("button", name=LAUNCHER).click()
        ask(page, "Can I ask for a refund?")
        answer = transcript(page).locator(".msg.assistant")
        expect(answer).to_contain_text("Answer to: Can I ask for a refund?")
        # The shop's CSS did not get in: the widget looks as it does everywhere.
        expect(answer.locator(".bubble")).to_have_css("font-size", "14px")
        expect(answer.locator(".bubble")).to_have_css("color", "rgb(31, 41, 55)")
        expect(page.get_by_role("button", name="Send")).to_be_visible()


def test_a_forged_visitor_token_is_dropped_and_the_widget_starts_a_new_visitor(
    site: Site, new_visitor: Callable[[], Visitor]
) -> None:
    visitor = new_visitor()
    page = visitor.page
    page.goto(site.demo_url)
    forged = "cmv1.1.v_forged.1700000000.deadbeef"
    page.evaluate(f"localStorage.setItem('chatmina:{site.public_id}', '{forged}')")
    page.reload()
    open_widget(page)
    ask(page, "How do I request a refund?")
    expect(transcript(page).locator(".msg.assistant")).to_contain_text(
        "Answer to: How do I request a refund?"
    )
    token = visitor_token(page, site)
    assert token != forged
    stored = site.stored(token)
    assert [m["role"] for m in stored["messages"]] == ["visitor", "assistant"]
    # The refused token was a 401 the browser reports; nothing else went wrong.
    assert all("401" in e for e in visitor.errors), visitor.errors


def test_network_loss_mid_conversation_loses_and_duplicates_nothing(
    site: Site, new_visitor: Callable[[], Visitor]
) -> None:
    visitor = new_visitor()
    page = visitor.page
    page.goto(site.demo_url)
    open_widget(page)
    ask(page, "How do I request a refund?")
    expect(transcript(page).locator(".msg.assistant")).to_contain_text(
        "Answer to: How do I request a refund?"
    )
    token = visitor_token(page, site)
    conversation_id = site.stored(token)["conversation"]["id"]

    agent = new_visitor()
    sign_in(agent.page)
    agent.page.goto(f"/w/acme-support/inbox/{conversation_id}")

    # The visitor's network goes; they write anyway; the agent replies meanwhile.
    page.context.set_offline(True)
    expect(page.get_by_role("status")).to_have_text("Connection lost. Reconnecting…")
    ask(page, "Second question, written offline")
    pending = transcript(page).locator(".pending")
    expect(pending).to_contain_text("Second question, written offline")
    expect(page.get_by_label("Your message")).to_have_value("")
    agent.page.locator("#composer textarea[name=content]").fill("Alice here, I am on it.")
    agent.page.get_by_role("button", name="Send reply").click()
    expect(agent.page.locator("#transcript")).to_contain_text("Alice here, I am on it.")

    # Back online: the missed reply arrives, the waiting message is sent, once each.
    page.context.set_offline(False)
    expect(transcript(page).locator(".msg.agent")).to_contain_text("Alice here, I am on it.")
    expect(pending).to_have_count(0)
    expect(page.get_by_role("status")).not_to_contain_text("Connection lost")
    expected = [
        "visitor How do I request a refund?",
        "assistant Answer to: How do I request a refund?",
        "agent Alice here, I am on it.",
        "visitor Second question, written offline",
    ]
    stored = site.stored(token)["messages"]
    assert [f"{m['role']} {m['content']}" for m in stored] == expected
    shown = transcript(page).locator(".msg")
    expect(shown).to_have_count(4)
    ids = [shown.nth(i).get_attribute("data-id") for i in range(4)]
    assert ids == [str(m["id"]) for m in stored]

    # A message whose answer is lost on the way back is sent again with the same client_id
    # and stored once. The server's answers are recorded as they come back to the page;
    # the stream may show the message before the first answer reaches this handler.
    posts: list[tuple[str, int]] = []

    def lose_the_first_answer(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        client_id = route.request.post_data_json["client_id"]
        response = route.fetch()  # the server gets it and stores it
        posts.append((client_id, response.status))
        if len(posts) == 1:
            route.abort("connectionreset")
        else:
            route.fulfill(response=response)

    page.route("**/api/widget/v1/*/messages", lose_the_first_answer)
    ask(page, "Third question, answer lost")
    expect(transcript(page).locator(".msg.visitor")).to_have_count(3)
    expect(transcript(page).locator(".pending")).to_have_count(0)
    deadline = time.monotonic() + 10
    while len(posts) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert [status for _, status in posts] == [202, 200]  # stored, then "sent before"
    assert posts[0][0] == posts[1][0]
    visitor_messages = [m for m in site.stored(token)["messages"] if m["role"] == "visitor"]
    assert [m["content"] for m in visitor_messages][-1] == "Third question, answer lost"
    assert len(visitor_messages) == 3
    page.wait_for_timeout(500)  # a late duplicate would show up now
    expect(transcript(page).locator(".msg.visitor")).to_have_count(3)


HOSTILE = (
    'Look: <img src=x onerror="window.__pwned=1"> and [click me](javascript:window.__pwned=2) '
    "and [our page](https://example.com/ok) <script>window.__pwned=3</script>\n\n"
    "- **bold** item\n- `<b>code</b>` item\n\n[data](data:text/html,<b>x</b>)"
)


def test_markdown_from_the_model_and_the_visitor_is_rendered_inert(
    site: Site, new_visitor: Callable[[], Visitor]
) -> None:
    visitor = new_visitor()
    page = visitor.page
    page.add_init_script(WATCH_CSP)
    page.goto(site.demo_url)
    open_widget(page)
    site.fake.script(Say(HOSTILE))
    ask(page, "How do I request a refund?")

    answer = transcript(page).locator(".msg.assistant").first
    expect(answer).to_contain_text("and our page")
    widget = page.locator("[data-chatmina]")
    expect(widget.locator("img")).to_have_count(0)
    expect(widget.locator("script")).to_have_count(0)
    expect(answer).to_contain_text('<img src=x onerror="window.__pwned=1">')
    expect(answer.get_by_role("link", name="click me")).to_have_count(0)
    expect(answer).to_contain_text("click me")
    expect(answer.get_by_role("link", name="data")).to_have_count(0)
    safe = answer.get_by_role("link", name="our page")
    expect(safe).to_have_attribute("href", "https://example.com/ok")
    expect(safe).to_have_attribute("rel", re.compile(r"noopener.*nofollow"))
    expect(answer.locator("li strong")).to_have_text("bold")
    expect(answer.locator("li code")).to_have_text("<b>code</b>")

    # The visitor's own text is shown as typed.
    hostile = '<img src=x onerror="window.__pwned=4"> **thanks** [x](javascript:alert(1))'
    ask(page, hostile)
    expect(transcript(page).locator(".msg.visitor .bubble").last).to_have_text(hostile)
    expect(widget.locator("img")).to_have_count(0)
    expect(transcript(page).locator(".msg.visitor a, .msg.visitor strong")).to_have_count(0)
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("window.__cspViolations") == []
    visitor.assert_no_console_errors()


@pytest.mark.parametrize("extra_env", [{"CHATMINA_WIDGET_MESSAGES_PER_MINUTE": "3"}])
def test_a_flood_of_messages_is_refused_clearly_and_other_visitors_are_unaffected(
    site: Site, new_visitor: Callable[[], Visitor]
) -> None:
    page = new_visitor().page
    page.goto(site.demo_url)
    open_widget(page)
    for n in range(1, 4):
        ask(page, f"How do I request a refund? ({n})")
        expect(transcript(page).locator(".msg.visitor")).to_have_count(n)
    ask(page, "How do I request a refund? (4)")
    expect(page.get_by_role("alert")).to_have_text(
        "You are sending messages too quickly. Try again in a moment."
    )
    expect(page.get_by_label("Your message")).to_have_value("How do I request a refund? (4)")
    expect(transcript(page).locator(".msg.visitor")).to_have_count(3)
    stored = site.stored(visitor_token(page, site))["messages"]
    assert [m["content"] for m in stored if m["role"] == "visitor"] == [
        "How do I request a refund? (1)",
        "How do I request a refund? (2)",
        "How do I request a refund? (3)",
    ]

    other = new_visitor().page
    other.goto(site.demo_url)
    open_widget(other)
    ask(other, "How do I request a refund?")
    expect(transcript(other).locator(".msg.assistant")).to_contain_text(
        "Answer to: How do I request a refund?"
    )
    expect(other.get_by_role("alert")).to_have_count(0)


# -- access ------------------------------------------------------------------------------


def test_a_keyboard_only_visitor_can_open_ask_rate_an_answer_and_close(
    site: Site, new_visitor: Callable[[], Visitor]
) -> None:
    visitor = new_visitor()
    page = visitor.page
    page.goto(site.demo_url)
    launcher = page.get_by_role("button", name=LAUNCHER)
    for _ in range(10):
        page.keyboard.press("Tab")
        if launcher.evaluate("el => el.matches(':focus')"):
            break
    expect(launcher).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "false")

    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Support")
    expect(dialog).to_be_visible()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_label("Your message")).to_be_focused()
    expect(transcript(page)).to_have_attribute("aria-live", "polite")

    page.keyboard.type("How do I get a refund?")
    page.keyboard.press("Enter")
    answer = transcript(page).locator(".msg.assistant")
    expect(answer).to_contain_text("Answer to: How do I get a refund?")
    helpful = answer.get_by_role("button", name="Helpful", exact=True)
    for _ in range(12):
        page.keyboard.press("Shift+Tab")
        if helpful.evaluate("el => el.matches(':focus')"):
            break
    expect(helpful).to_be_focused()
    page.keyboard.press("Space")
    expect(helpful).to_have_attribute("aria-pressed", "true")

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(launcher).to_be_focused()
    visitor.assert_no_console_errors()


def test_on_a_phone_the_panel_fills_the_screen(
    site: Site, new_visitor: Callable[[], Visitor]
) -> None:
    page = new_visitor().page
    page.set_viewport_size({"width": 375, "height": 667})
    page.goto(site.demo_url)
    open_widget(page)
    box = page.get_by_role("dialog").bounding_box()
    assert box == {"x": 0, "y": 0, "width": 375, "height": 667}
    expect(page.get_by_role("button", name=LAUNCHER)).to_be_hidden()
    page.get_by_role("button", name="Close chat").click()
    expect(page.get_by_role("button", name=LAUNCHER)).to_be_visible()
    # The site's own scripts may open and close it too.
    page.evaluate("window.Chatmina.open()")
    expect(page.get_by_role("dialog")).to_be_visible()
    page.evaluate("window.Chatmina.close()")
    expect(page.get_by_role("dialog")).to_be_hidden()


def test_the_widget_settings_page_previews_changes_before_they_are_saved(
    site: Site, new_visitor: Callable[[], Visitor]
) -> None:
    admin = new_visitor()
    page = admin.page
    page.add_init_script(WATCH_CSP)
    sign_in(page)
    page.goto("/w/acme-support/widget")
    preview = page.frame_locator("#widget-preview")
    expect(preview.get_by_role("heading", name="Support")).to_be_visible()
    expect(preview.get_by_role("dialog")).to_be_visible()
    # The preview opens by itself without taking the focus from the form.
    assert page.evaluate("document.activeElement.id") != "widget-preview"

    page.get_by_label("Title", exact=True).fill("Acme Helpdesk")
    expect(preview.get_by_role("heading", name="Acme Helpdesk")).to_be_visible()
    page.get_by_label("Greeting").fill("Welcome to **Acme**!")
    expect(preview.locator(".greeting strong")).to_have_text("Acme")
    page.get_by_label("Suggested questions").fill("Where is my order?\nHow do refunds work?")
    expect(preview.get_by_role("button", name="How do refunds work?")).to_be_visible()
    page.get_by_label("Colour", exact=True).fill("#aa0000")
    expect(preview.locator(".head")).to_have_css("background-color", "rgb(170, 0, 0)")
    page.get_by_label("Bottom left").check()
    expect(preview.locator(".cm")).to_have_class(re.compile(r"\bleft\b"))
    page.get_by_label("Texts").fill("en.send = Go\nde.send = Los")
    expect(preview.get_by_role("button", name="Go", exact=True)).to_be_visible()

    avatar = "https://cdn.acme.test/alice.png"
    page.route(avatar, lambda route: route.fulfill(body=PIXEL_PNG, content_type="image/png"))
    page.get_by_label("Avatar image URL").fill(avatar)
    expect(preview.locator(".head img")).to_have_attribute("src", avatar)
    expect(preview.locator(".head img")).to_have_js_property("naturalWidth", 1)

    # Nothing was saved: a visitor of the demo page still sees the saved title.
    demo = new_visitor().page
    demo.goto(site.demo_url)
    open_widget(demo)
    expect(demo.get_by_role("heading", name="Support")).to_be_visible()
    assert page.evaluate("window.__cspViolations") == []
    admin.assert_no_console_errors()

    # Saved, the demo page shows it; a suggested question asks itself.
    page.get_by_role("button", name="Save widget settings").click()
    expect(page.get_by_role("status").first).to_contain_text("saved")
    demo.reload()
    open_widget(demo)
    expect(demo.get_by_role("heading", name="Acme Helpdesk")).to_be_visible()
    demo.get_by_role("button", name="How do refunds work?").click()
    expect(transcript(demo).locator(".msg.visitor .bubble")).to_have_text("How do refunds work?")
    expect(transcript(demo).locator(".msg.assistant")).to_be_visible()
    expect(demo.get_by_role("list", name="Suggested questions")).to_be_hidden()


def test_a_signed_in_user_of_the_site_chats_verified_and_a_wrong_signature_is_refused(
    site: Site, new_visitor: Callable[[], Visitor]
) -> None:
    shop = OtherSite({})
    admin = new_visitor().page
    sign_in(admin)
    admin.goto("/w/acme-support/widget")
    admin.get_by_label("Required: only signed-in users may chat").check()
    admin.get_by_label("Allowed origins").fill(shop.url)
    admin.get_by_role("button", name="Save widget settings").click()
    expect(admin.get_by_role("status").first).to_contain_text("saved")
    admin.on("dialog", lambda dialog: dialog.accept())
    admin.get_by_role("button", name="Rotate identity secret").click()
    secret = (admin.locator("#new-secret .mono").text_content() or "").strip()
    assert secret

    good = sign(secret, "u-42")
    shop.snippets.update(
        {
            "/account": snippet(site, id="u-42", email="dana@example.com", name="Dana", hash=good),
            "/forged": snippet(site, id="u-1", email="boss@example.com", name="Boss", hash=good),
            "/anonymous": snippet(site),
            "/erin": snippet(site, id="u-7", name="Erin", hash=sign(secret, "u-7")),
        }
    )
    with shop:
        # A wrong signature and no signature: a clear error, the text kept, nothing stored.
        for path in ("/forged", "/anonymous"):
            page = new_visitor().page
            page.goto(shop.url + path)
            page.get_by_role("button", name=LAUNCHER).click()
            ask(page, "How do I request a refund?")
            expect(page.get_by_role("alert")).to_have_text(
                "We could not confirm who you are. Please sign in again."
            )
            expect(page.get_by_label("Your message")).to_have_value("How do I request a refund?")
            token = page.evaluate(f"localStorage.getItem('chatmina:{site.public_id}')")
            assert token is None

        # Dana, signed in on the shop, is a verified visitor under her own name.
        page = new_visitor().page
        page.goto(shop.url + "/account")
        page.get_by_role("button", name=LAUNCHER).click()
        ask(page, "How do I request a refund?")
        expect(transcript(page).locator(".msg.assistant")).to_contain_text("Answer to:")
        danas_token = visitor_token(page, site)

        # Erin signs in on the same computer: she does not see Dana's conversation.
        page.goto(shop.url + "/erin")
        page.get_by_role("button", name=LAUNCHER).click()
        expect(page.get_by_role("dialog")).to_be_visible()
        expect(transcript(page).locator(".msg")).to_have_count(0)
        ask(page, "Can I ask for a refund?")
        expect(transcript(page).locator(".msg.visitor:not(.pending)")).to_have_count(1)
        assert visitor_token(page, site) != danas_token

    admin.goto("/w/acme-support/inbox")
    rows = admin.locator("#conversation-list li")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="Dana")).to_contain_text("Verified")
    expect(rows.filter(has_text="Erin")).to_contain_text("Verified")


def test_a_reload_mid_answer_shows_the_whole_answer_once_not_half_a_sentence(
    site: Site, new_visitor: Callable[[], Visitor]
) -> None:
    visitor = new_visitor()
    page = visitor.page
    page.goto(site.demo_url)
    open_widget(page)
    site.fake.script(Say(ANSWER))
    site.fake.tokens_per_second = 10  # ~3 s
    ask(page, "How do I get a refund?")
    page.wait_for_function(STREAMING_WITH_TEXT, timeout=15_000)

    page.reload()
    open_widget(page)
    expect(transcript(page).locator(".msg.visitor")).to_have_text(
        re.compile("How do I get a refund")
    )
    # The words written before the reload are gone: no half answer, the dots instead.
    expect(page.locator("[data-state=streaming]")).to_have_count(0)
    expect(page.get_by_role("img", name="Support is typing…")).to_be_visible()
    answer = transcript(page).locator(".msg.assistant")
    expect(answer).to_contain_text("within five working days")
    expect(answer).to_have_count(1)
    expect(page.get_by_role("img", name="Support is typing…")).to_be_hidden()
    visitor.assert_no_console_errors()


RICH = (
    "## Refunds\n\n"
    "You have *30 days*; see [our page](https://help.acme.test/refunds) [1].\n"
    "Questions: write to <mailto:help@acme.test> or [email us](mailto:help@acme.test).\n\n"
    "3. Open Billing\n4. Choose the order\n   and press Request refund\n\n"
    "> Gift cards cannot be refunded.\n\n"
    "```\ncurl https://api.acme.test/refunds\n  --data order=42\n```\n\n"
    "More at https://help.acme.test/faq."
)


def test_answers_show_their_markdown_paragraphs_lists_code_quotes_and_links(
    site: Site, new_visitor: Callable[[], Visitor]
) -> None:
    page = new_visitor().page
    page.goto(site.demo_url)
    open_widget(page)
    site.fake.script(Say(RICH))
    ask(page, "How do I request a refund?")
    answer = transcript(page).locator(".msg.assistant .bubble")
    expect(answer.locator("p.h strong")).to_have_text("Refunds")
    expect(answer.locator("em")).to_have_text("30 days")
    expect(answer.get_by_role("link", name="our page")).to_have_attribute(
        "href", "https://help.acme.test/refunds"
    )
    expect(answer.locator("a.cite")).to_have_attribute("href", REFUND_URL)
    expect(answer.get_by_role("link", name="email us")).to_have_attribute(
        "href", "mailto:help@acme.test"
    )
    expect(answer.locator("ol")).to_have_attribute("start", "3")
    expect(answer.locator("ol li")).to_have_text(
        ["Open Billing", "Choose the order and press Request refund"]
    )
    expect(answer.locator("blockquote")).to_have_text("Gift cards cannot be refunded.")
    expect(answer.locator("pre code")).to_have_text(
        "curl https://api.acme.test/refunds\n  --data order=42"
    )
    expect(answer.locator("pre a")).to_have_count(0)  # code is code, not links
    faq = answer.get_by_role("link", name="https://help.acme.test/faq")
    expect(faq).to_have_attribute("href", "https://help.acme.test/faq")  # not "faq."


def test_a_german_browser_gets_the_german_widget_with_the_workspace_s_own_texts(
    site: Site, browser: Browser, new_visitor: Callable[[], Visitor]
) -> None:
    admin = new_visitor().page
    sign_in(admin)
    admin.goto("/w/acme-support/widget")
    admin.get_by_label("Texts").fill("de.send = Los\nde.input_placeholder = Ihre Frage…")
    admin.get_by_role("button", name="Save widget settings").click()
    expect(admin.get_by_role("status").first).to_contain_text("saved")
    expect(admin.get_by_label("Texts")).to_have_value(re.compile(r"de\.send = Los"))

    context = browser.new_context(base_url=site.server.url, locale="de-DE")
    try:
        page = context.new_page()
        page.goto(site.demo_url)
        open_widget_named(page, LAUNCHER, "Ihre Nachricht")
        expect(page.get_by_role("button", name="Los")).to_be_visible()  # the override
        expect(page.get_by_placeholder("Ihre Frage…")).to_be_visible()
        expect(page.get_by_role("button", name="Chat schließen")).to_be_visible()  # shipped
        expect(page.get_by_role("log")).to_have_attribute("aria-label", "Gespräch")
    finally:
        context.close()
