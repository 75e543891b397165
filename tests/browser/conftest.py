"""Real Chromium (Debian's /usr/bin/chromium, never a downloaded one) driven by Playwright,
against the real server in a subprocess.

Chromium runs as root in CI, so it needs --no-sandbox; background networking is off so it
never tries to reach the internet.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, sync_playwright

from tests.server_helpers import RunningServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium package"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium_path: Path) -> Iterator[Browser]:
    # Per module, not per session: Playwright's sync API keeps an event loop running in
    # this thread while it is open, and any later test on this worker that runs its own
    # loop (asyncio.run, anyio tests) would fail with "another loop is running".
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with RunningServer(tmp_path / "data") as running:
        yield running


@dataclass
class Visitor:
    """One person at one browser: its own context (cookies), one page, and what the console
    said. CSP violations and script errors arrive as console errors."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{self.page.url}: {message.text}")

    def on_page_error(self, error: Error) -> None:
        self.errors.append(f"{self.page.url}: uncaught {error.message}")

    def assert_no_console_errors(self) -> None:
        found, self.errors[:] = list(self.errors), []
        assert found == [], "\n".join(found)


@pytest.fixture
def new_visitor(browser: Browser, server: RunningServer) -> Iterator[Callable[[], Visitor]]:
    """Each call opens a fresh browser context: a different person, with no shared cookies."""
    contexts = []

    def make() -> Visitor:
        context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 800})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        visitor = Visitor(context.new_page())
        visitor.page.on("console", visitor.on_console)
        visitor.page.on("pageerror", visitor.on_page_error)
        return visitor

    yield make
    for context in contexts:
        context.close()


def set_up_owner(page: Page, setup_url: str, password: str) -> None:
    """Create Olivia and "Acme Support" through the one-time setup link, in the browser."""
    page.goto(setup_url)
    page.get_by_label("Your name").fill("Olivia Owner")
    page.get_by_label("Email").fill("olivia@example.com")
    page.get_by_label("Workspace name").fill("Acme Support")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Repeat the password").fill(password)
    page.get_by_role("button", name="Create account and workspace").click()
