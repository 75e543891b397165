"""The knowledge base in a real browser: write an article with a preview, import files and
watch the job page fill in live (Server-Sent Events), then find the text on Test search."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Visitor, set_up_owner
from tests.browser.test_walkthrough import PASSWORD, heading
from tests.server_helpers import RunningServer

pytestmark = pytest.mark.browser
NOTES_PER_ZIP = 1900  # a zip holds at most 2,000 files


def test_an_admin_writes_imports_and_searches_knowledge(
    server: RunningServer, new_visitor: Callable[[], Visitor], tmp_path: Path
) -> None:
    owner = new_visitor()
    page = owner.page
    set_up_owner(page, server.setup_url, PASSWORD)
    expect(page).to_have_url(re.compile(r"/w/acme-support/$"))

    # Write an article, preview it (Markdown rendered, raw HTML shown as text), save it.
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Knowledge").click()
    heading(page, "Knowledge")
    page.get_by_role("link", name="New article").click()
    page.get_by_label("Title").fill("Refunds")
    page.get_by_label("Body (Markdown)").fill(
        "# Refunds\n\nAsk within **30 days**. <script>alert(1)</script>"
    )
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#preview")
    expect(preview.locator("strong")).to_have_text("30 days")
    expect(preview).to_contain_text("<script>alert(1)</script>")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_contain_text("Article saved.")
    owner.assert_no_console_errors()

    # Import files, among them a zip big enough to take a few seconds: the job page opens
    # while the job runs and follows it live (no reload) to the per-file results.
    (tmp_path / "shipping.md").write_text("# Shipping\n\nParcels arrive in two to four days.\n")
    (tmp_path / "empty.txt").write_text("")
    zips = [tmp_path / "notes-1.zip", tmp_path / "notes-2.zip"]
    for z, path in enumerate(zips):
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for i in range(NOTES_PER_ZIP):
                archive.writestr(f"note-{i:05d}.md", f"# Note {z}-{i}\n\nRelease note {z}-{i}.\n")
    page.get_by_role("link", name="Import").first.click()
    heading(page, "Import knowledge")
    page.get_by_label("Files").set_input_files(
        [tmp_path / "shipping.md", tmp_path / "empty.txt", *zips]
    )
    page.get_by_role("button", name="Import files").click()
    expect(page).to_have_url(re.compile(r"/knowledge/imports/\d+$"))
    expect(page.locator('[data-field="status"]')).to_have_text("Running")
    loaded = page.evaluate("performance.timeOrigin")
    expect(page.locator('[data-field="status"]')).to_have_text("Finished", timeout=60_000)
    assert page.evaluate("performance.timeOrigin") == loaded  # updated in place, not reloaded
    expect(page.locator('[data-field="summary"]')).to_contain_text(
        f"{2 * NOTES_PER_ZIP + 1} imported"
    )
    expect(page.get_by_role("row", name=re.compile("shipping.md"))).to_contain_text("imported")
    expect(page.get_by_role("row", name=re.compile("empty.txt"))).to_contain_text("failed")
    owner.assert_no_console_errors()

    # Test search finds the imported section and says why.
    page.get_by_role("link", name="Test search").click()
    page.get_by_label("Question").fill("when will my parcels arrive?")
    page.get_by_role("button", name="Search").click()
    first = page.locator(".results > li").first
    expect(first).to_contain_text("Shipping")
    expect(first).to_contain_text("parcels, arrive")
    owner.assert_no_console_errors()
