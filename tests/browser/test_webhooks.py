"""Webhooks in a real browser: allow the receiver's private host, add an endpoint (the
secret shown once), import a file, and the receiver gets the signed event."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Visitor, set_up_owner
from tests.browser.test_walkthrough import PASSWORD, heading
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.server_helpers import RunningServer

pytestmark = pytest.mark.browser


def test_an_owner_adds_an_endpoint_and_receives_an_import_event(
    server: RunningServer, new_visitor: Callable[[], Visitor], tmp_path: Path
) -> None:
    owner = new_visitor()
    page = owner.page
    set_up_owner(page, server.setup_url, PASSWORD)
    expect(page).to_have_url(re.compile(r"/w/acme-support/$"))

    with WebhookReceiver() as receiver:
        page.get_by_role("navigation", name="Workspace").get_by_role(
            "link", name="Webhooks"
        ).click()
        heading(page, "Webhooks")
        # Refused first: the receiver is on loopback and not allowed yet.
        page.get_by_label("URL").fill(receiver.url())
        page.get_by_label("knowledge.import.finished").check()
        page.get_by_label("conversation.*").uncheck()
        page.get_by_role("button", name="Add endpoint").click()
        expect(page.locator("#field-url-error")).to_contain_text("loopback")
        # The refused form answers 400, which Chromium logs as a failed load: expected here.
        assert [e for e in owner.errors if "status of 400" not in e] == []
        owner.errors.clear()

        page.get_by_label("Allowed private hosts").fill(receiver.address)
        page.get_by_role("button", name="Save private hosts").click()
        expect(page.get_by_role("status").first).to_contain_text("Private hosts saved.")
        page.get_by_label("URL").fill(receiver.url())
        page.get_by_label("knowledge.import.finished").check()
        page.get_by_label("conversation.*").uncheck()
        page.get_by_role("button", name="Add endpoint").click()
        secret = page.get_by_label("Signing secret").input_value()
        assert secret.startswith("whsec_")
        receiver.secrets.append(secret)
        owner.assert_no_console_errors()

        (tmp_path / "returns.md").write_text("# Returns\n\nReturns are free for 30 days.\n")
        page.goto("/w/acme-support/knowledge/import")
        page.get_by_label("Files").set_input_files([tmp_path / "returns.md"])
        page.get_by_role("button", name="Import files").click()
        expect(page.locator('[data-field="status"]')).to_have_text("Finished", timeout=30_000)
        assert receiver.wait_for(1, timeout=15), server.output
        [payload] = receiver.processed.values()
        assert payload["type"] == "knowledge.import.finished"
        assert payload["data"]["imported"] == 1 and receiver.rejected == []

        page.goto("/w/acme-support/webhooks/deliveries")
        expect(page.locator("#deliveries")).to_contain_text("knowledge.import.finished")
        expect(page.locator("#deliveries")).to_contain_text("Delivered")
        owner.assert_no_console_errors()
