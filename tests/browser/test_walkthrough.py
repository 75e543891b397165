"""The first hour of a new installation, in a real browser: set up, log out and in, invite
an agent, pass the invitation on from the outbox, and the agent joins."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Visitor, set_up_owner
from tests.server_helpers import RunningServer

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"


def heading(page: Page, name: str) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("status")).to_contain_text("You have logged out.")


def test_owner_sets_up_invites_an_agent_who_joins_from_the_outbox_link(
    server: RunningServer, new_visitor: Callable[[], Visitor]
) -> None:
    owner = new_visitor()
    page = owner.page

    # First run: the link printed in the log opens the setup form.
    page.goto(server.setup_url)
    heading(page, "Welcome to Chatmina")
    owner.assert_no_console_errors()
    set_up_owner(page, server.setup_url, PASSWORD)

    expect(page).to_have_url(re.compile(r"/w/acme-support/$"))
    heading(page, "Acme Support")
    owner.assert_no_console_errors()

    log_out(page)
    owner.assert_no_console_errors()

    # Log in with the keyboard only: the email field has focus, Tab moves on, Enter submits.
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type("olivia@example.com")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/w/acme-support/$"))
    owner.assert_no_console_errors()

    # Invite Dave as an agent.
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Members").click()
    heading(page, "Members")
    owner.assert_no_console_errors()
    page.get_by_label("Email").fill("dave@example.com")
    page.get_by_label("Role", exact=True).select_option("agent")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status").first).to_contain_text("Invitation sent to dave@example.com")
    expect(page.get_by_role("cell", name="dave@example.com")).to_be_visible()
    owner.assert_no_console_errors()

    # No SMTP server is set up, so the email waits in the outbox.
    page.get_by_role("link", name="Outbox").click()
    expect(page).to_have_url(re.compile(r"/instance/outbox$"))
    heading(page, "Outbox")
    owner.assert_no_console_errors()
    page.get_by_role("link", name="Olivia Owner invited you to Acme Support on Chatmina").click()
    heading(page, "Olivia Owner invited you to Acme Support on Chatmina")
    expect(page.get_by_text("dave@example.com", exact=True)).to_be_visible()
    owner.assert_no_console_errors()

    invite_link = page.get_by_role("link", name=re.compile(r"invite\?token="))
    invite_url = invite_link.get_attribute("href")
    assert invite_url and invite_url.startswith(server.url + "/invite?token=")
    invite_link.click()
    # Olivia is still logged in: the page tells her the invitation is for someone else.
    heading(page, "Join Acme Support")
    expect(page.get_by_role("alert")).to_contain_text("this invitation is for dave@example.com")
    owner.assert_no_console_errors()

    # Dave, in his own browser, creates his account from the link.
    dave = new_visitor()
    page = dave.page
    page.goto(invite_url)
    heading(page, "Join Acme Support")
    expect(page.get_by_text("Olivia Owner invited")).to_be_visible()
    dave.assert_no_console_errors()
    page.get_by_label("Your name").fill("Dave Agent")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Create account and join").click()

    expect(page).to_have_url(re.compile(r"/w/acme-support/$"))
    heading(page, "Acme Support")
    expect(page.get_by_text("Agent · dave@example.com")).to_be_visible()
    # An agent does not manage members or the instance.
    expect(page.get_by_role("link", name="Outbox")).to_have_count(0)
    expect(page.get_by_role("link", name="Invite someone")).to_have_count(0)
    dave.assert_no_console_errors()

    log_out(page)
    dave.assert_no_console_errors()


def test_the_browser_blocks_inline_script_and_the_console_check_sees_it(
    new_visitor: Callable[[], Visitor],
) -> None:
    visitor = new_visitor()
    page = visitor.page
    page.goto("/login")
    visitor.assert_no_console_errors()
    blocked = page.expect_console_message(
        lambda message: message.type == "error" and "Content Security Policy" in message.text
    )
    with blocked:
        page.evaluate(
            """() => {
                const script = document.createElement("script");
                script.textContent = "document.body.dataset.injected = 'yes'";
                document.body.append(script);
            }"""
        )
    expect(page.locator("body")).not_to_have_attribute("data-injected", "yes")
    assert any("Content Security Policy" in error for error in visitor.errors), visitor.errors
