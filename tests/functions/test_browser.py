"""AI Functions in a real browser: an admin creates a function, copies its secret, sends a
test call, and watches the assistant call it in the playground. The receiver (this test
process) verifies every signature with standardwebhooks; the server is a subprocess."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Visitor, set_up_owner
from tests.browser.test_playground import WATCH_CSP, configure_model, open_section
from tests.browser.test_walkthrough import PASSWORD
from tests.fakes.openai_server import CallTools, FakeOpenAI, Say
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.functions.conftest import ORDER_SCHEMA
from tests.server_helpers import RunningServer

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    """The model and the business's endpoint listen on this machine: allowed by the operator."""
    env = {"CHATMINA_ALLOWED_PRIVATE_HOSTS": "127.0.0.1"}
    with RunningServer(tmp_path / "data", env=env) as running:
        yield running


def test_an_admin_creates_tests_and_watches_a_function_being_called(
    server: RunningServer, new_visitor: Callable[[], Visitor]
) -> None:
    owner = new_visitor()
    page = owner.page
    page.add_init_script(WATCH_CSP)
    set_up_owner(page, server.setup_url, PASSWORD)
    expect(page).to_have_url(re.compile(r"/w/acme-support/$"))

    with FakeOpenAI(api_key="sk-browser-0123456789abcdef") as fake, WebhookReceiver() as hook:
        hook.behave(body=b'{"status": "shipped", "eta": "tomorrow"}')
        fake.script(
            Say("ready"),
            CallTools([("order_status", {"order_id": "12345"})]),
            Say("Your order 12345 ships tomorrow."),
        )
        configure_model(page, fake)

        open_section(page, "Functions")
        page.get_by_role("link", name="New function").first.click()
        page.get_by_label("Name", exact=True).fill("order_status")
        page.get_by_label("Description").fill("Where an order is, by its number.")
        page.get_by_label("Parameters (JSON Schema)").fill(json.dumps(ORDER_SCHEMA))
        page.get_by_label("URL").fill(hook.url())
        page.get_by_label("Extra headers").fill("X-Api-Key: shop-key-123456")
        page.get_by_role("button", name="Create function").click()
        expect(page.locator("#signing-secret")).to_contain_text("shown only once")
        secret = page.locator("#new-secret").input_value()
        assert secret.startswith("whsec_")
        hook.secrets = [secret]

        page.get_by_role("link", name="Continue to order_status").click()
        assert secret not in page.content() and "shop-key-123456" not in page.content()
        page.get_by_label("Arguments (JSON)").fill('{"order_id": "12345"}')
        page.get_by_role("button", name="Send test call").click()
        expect(page.locator("#test-result")).to_contain_text("Answered 200")
        expect(page.locator("#test-response")).to_contain_text("tomorrow")

        open_section(page, "Playground")
        page.get_by_label("Question").fill("Where is my order 12345?")
        page.get_by_role("button", name="Ask").click()
        answer = page.locator("[data-answer]").last
        expect(answer).to_have_attribute("data-state", "finished")
        expect(answer).to_have_text("Your order 12345 ships tomorrow.")
        calls = (
            page.locator("[data-details]").get_by_role("listitem").filter(has_text="order_status")
        )
        expect(calls).to_contain_text("done")

    assert len(hook.arrivals) == 2 and all(a.verified for a in hook.arrivals)
    assert hook.rejected == []
    test_call, answer_call = (json.loads(a.body)["data"] for a in hook.arrivals)
    assert test_call["test"] is True and "test" not in answer_call
    assert answer_call["arguments"] == {"order_id": "12345"}
    assert isinstance(answer_call["conversation_id"], int)

    open_section(page, "Functions")
    page.get_by_role("link", name="order_status").click()
    page.get_by_role("link", name="Call log", exact=True).click()
    rows = page.locator("#calls tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("conversation")
    expect(rows.last).to_contain_text("test")
    assert page.evaluate("window.__cspViolations") == []
    owner.assert_no_console_errors()
