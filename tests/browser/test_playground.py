"""The playground in a real browser: configure the workspace's model on the Assistant page,
test it, then ask a question and watch the answer stream in next to its sources and prompt.

The model is the fake OpenAI-compatible server in this test process, pacing its words so
the streaming is visible; the Chatmina server is a subprocess that reaches it over HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Visitor, set_up_owner
from tests.browser.test_walkthrough import PASSWORD, heading
from tests.fakes.openai_server import FakeOpenAI, Say
from tests.server_helpers import RunningServer

pytestmark = pytest.mark.browser

API_KEY = "sk-browser-0123456789abcdef"
ANSWER = (
    "You can ask for a refund within 30 days of purchase [1]. Open Billing, choose the "
    "order and press Request refund; the money reaches your card within five working days [1]."
)
# Records CSP violations from the first moment of every page, before the page's own scripts.
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""
STREAMING_WITH_TEXT = """() => {
  const answer = document.querySelector('[data-answer][data-state="streaming"]');
  return answer !== null && answer.textContent.trim().length > 0;
}"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    """The fake model listens on this machine: the operator allows that address."""
    env = {"CHATMINA_ALLOWED_PRIVATE_HOSTS": "127.0.0.1"}
    with RunningServer(tmp_path / "data", env=env) as running:
        yield running


def open_section(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name=name).click()
    heading(page, name)


def write_article(page: Page) -> None:
    open_section(page, "Knowledge")
    page.get_by_role("link", name="New article").click()
    page.get_by_label("Title").fill("Refunds")
    page.get_by_label("Body (Markdown)").fill(
        "# Refunds\n\nYou can ask for a refund within 30 days of purchase.\n\n"
        "## How to request a refund\n\nOpen Billing, choose the order and press Request refund."
    )
    page.get_by_label("Source URL").fill("https://help.acme.test/refunds")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_contain_text("Article saved.")


def configure_model(page: Page, fake: FakeOpenAI) -> None:
    open_section(page, "Assistant")
    expect(page.locator("#model-in-use")).to_contain_text("No model")
    page.get_by_label("Model", exact=True).fill("gpt-4o-mini")
    page.get_by_label("Base URL").fill(fake.base_url)
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_contain_text("Assistant settings saved.")
    expect(page.locator("#model-in-use")).to_contain_text("its own model gpt-4o-mini")
    assert API_KEY not in page.content()
    page.get_by_role("button", name="Test the model").click()
    expect(page.locator("#model-check")).to_contain_text("answered in")
    expect(page.locator("#model-check")).to_contain_text("ready")


def test_an_admin_configures_the_model_and_watches_an_answer_stream_in(
    server: RunningServer, new_visitor: Callable[[], Visitor]
) -> None:
    owner = new_visitor()
    page = owner.page
    page.add_init_script(WATCH_CSP)
    set_up_owner(page, server.setup_url, PASSWORD)
    expect(page).to_have_url(re.compile(r"/w/acme-support/$"))
    write_article(page)

    with FakeOpenAI(api_key=API_KEY) as fake:
        fake.script(Say("ready"), Say(ANSWER))
        configure_model(page, fake)
        fake.tokens_per_second = 20  # ~1.3 s for the answer: plenty of partial states

        open_section(page, "Playground")
        loaded = page.evaluate("performance.timeOrigin")
        page.get_by_label("Question").fill("How do I request a refund?")
        page.get_by_role("button", name="Ask").click()

        # Text arrives while the answer is still streaming, and the sources came first.
        page.wait_for_function(STREAMING_WITH_TEXT, timeout=5_000)
        answer = page.locator("[data-answer]").last
        partial = answer.text_content() or ""
        expect(page.locator('[data-field="sources"]')).to_contain_text("Refunds")
        expect(answer).to_have_attribute("data-state", "finished")
        assert 0 < len(partial.strip()) < len(ANSWER)
        expect(answer).to_have_text(ANSWER)
        assert page.evaluate("performance.timeOrigin") == loaded  # no page load: streamed

    expect(page.locator(".bubble--visitor")).to_have_text(re.compile("How do I request a refund"))
    citation = page.locator(".citations a").first
    expect(citation).to_have_text("Refunds")
    expect(citation).to_have_attribute("href", "https://help.acme.test/refunds")
    details = page.locator("[data-details]")
    expect(details.locator('[data-field="outcome"]')).to_have_text("Answered by the model")
    expect(details.locator('[data-field="tokens"]')).to_contain_text(re.compile(r"\d+ prompt"))
    expect(details.locator('[data-field="timings"]')).to_contain_text("first token")
    prompt = details.locator('[data-field="prompt"]')
    prompt.locator("summary").click()
    expect(prompt).to_contain_text("You are Assistant, the customer-support assistant")
    expect(prompt).to_contain_text("within 30 days of purchase")
    expect(page).to_have_url(re.compile(r"/playground\?c=\d+$"))

    # A reload shows the same conversation, rendered by the server.
    page.reload()
    expect(page.locator("[data-answer]").last).to_contain_text("within five working days")
    assert page.evaluate("window.__cspViolations") == []
    owner.assert_no_console_errors()
