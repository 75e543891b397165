"""The Widget settings page: the form, its errors, the snippet, preview and the secret."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from chatmina.conversations import widget_settings
from chatmina.conversations.models import WidgetSettings
from chatmina.ui.context import Services
from tests.conftest import Personas
from tests.conversations.conftest import Sites, api
from tests.conversations.test_api import SETTINGS_FORM


@pytest.fixture
def alice(client: Any, personas: Personas) -> Any:
    client.login("alice@example.com")
    return client


def test_the_page_has_the_snippet_demo_link_and_preview(
    alice: Any, personas: Personas, sites: Sites
) -> None:
    page = alice.get(f"/w/{personas.a_slug}/widget").text
    snippet = html.unescape(page.split('id="install-snippet">')[1].split("</pre>")[0])
    assert snippet == (
        f'<script src="http://127.0.0.1:8000/widget.js" data-workspace="{sites.a}" async></script>'
    )
    assert f'href="/demo/{sites.a}"' in page
    assert f'<iframe id="widget-preview" data-demo-src="/demo/{sites.a}?preview=1"' in page


def test_saving_changes_what_the_widget_gets(
    alice: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    response = alice.submit(f"/w/{personas.a_slug}/widget", SETTINGS_FORM)
    assert response.status_code == 303
    config = alice.get(api(sites.a, "/config")).json()
    assert config["appearance"]["title"] == "Acme help"
    assert config["appearance"]["position"] == "left"
    assert config["greeting"] == "Hello!"
    allowed = alice.get(api(sites.a, "/config"), headers={"Origin": "https://shop.example.com"})
    assert allowed.status_code == 200  # the saved origin is allowed at once


def test_the_handoff_email_box_is_on_by_default_and_can_be_turned_off(
    alice: Any, services: Services, personas: Personas
) -> None:
    box = re.compile(r'<input[^>]*name="notify_by_email"[^>]*>')
    [before] = box.findall(alice.get(f"/w/{personas.a_slug}/widget").text)
    assert "checked" in before
    form = {k: v for k, v in SETTINGS_FORM.items() if k != "notify_by_email"}  # unticked
    assert alice.submit(f"/w/{personas.a_slug}/widget", form).status_code == 303
    [after] = box.findall(alice.get(f"/w/{personas.a_slug}/widget").text)
    assert "checked" not in after
    assert services.handoff_mail.wanted(personas.a_id) is False


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("primary_color", "blue", "must be a colour like #2563eb"),
        ("allowed_origins", "shop.example.com/path", "is not an origin"),
        ("allowed_origins", "http://shop.example.com", "is not an origin"),
        ("avatar_url", "javascript:alert(1)", "https:// image URL"),
        ("strings", "de.nonsense = x", "Line 1"),
        ("suggestions", "\n".join(f"q{n}" for n in range(7)), "at most 6"),
        ("title", "   ", "cannot be empty"),
        ("identity_verification", "sometimes", "off, optional or required"),
    ],
)
def test_a_bad_field_is_explained_and_nothing_is_saved(
    alice: Any, services: Services, personas: Personas, field: str, value: str, message: str
) -> None:
    response = alice.submit(f"/w/{personas.a_slug}/widget", {**SETTINGS_FORM, field: value})
    assert response.status_code == 400
    assert message in response.text
    with services.db.read() as s:
        assert s.get(WidgetSettings, personas.a_id) is None


def test_the_identity_secret_is_masked_and_shown_once_when_rotated(
    alice: Any, services: Services, personas: Personas
) -> None:
    form = {**SETTINGS_FORM, "identity_verification": "required"}
    alice.submit(f"/w/{personas.a_slug}/widget", form)
    secret = widget_settings.load(services.db, services.keys, personas.a_id).identity_secret
    assert secret.startswith("whs_")
    page = alice.get(f"/w/{personas.a_slug}/widget").text
    assert secret not in page
    assert secret[:4] + "…" in page
    rotated = alice.submit(f"/w/{personas.a_slug}/widget/rotate-secret")
    new = widget_settings.load(services.db, services.keys, personas.a_id).identity_secret
    assert new != secret and new in rotated.text
    assert new not in alice.get(f"/w/{personas.a_slug}/widget").text
    with services.db.read() as s:
        row = s.get(WidgetSettings, personas.a_id)
        assert row is not None and new not in row.identity_secret_encrypted


def test_the_stored_secret_is_bound_to_its_workspace(
    services: Services, personas: Personas
) -> None:
    """A ciphertext copied into another workspace's row does not decrypt there."""
    from chatmina.storage.crypto import DecryptionError

    widget_settings.rotate_secret(services.db, services.keys, personas.a_id)
    widget_settings.rotate_secret(services.db, services.keys, personas.b_id)
    with services.db.write() as s:
        a = s.get(WidgetSettings, personas.a_id)
        b = s.get(WidgetSettings, personas.b_id)
        assert a is not None and b is not None
        b.identity_secret_encrypted = a.identity_secret_encrypted
    with pytest.raises(DecryptionError):
        widget_settings.load(services.db, services.keys, personas.b_id)
