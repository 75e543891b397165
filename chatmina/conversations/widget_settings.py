"""A workspace's widget: how it looks, what it says, where it may run, who it trusts.

The identity secret (for identity verification) is stored encrypted, bound to the
workspace, and only ever shown masked, except once right after it is made.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from chatmina import clock
from chatmina.conversations import strings as texts
from chatmina.conversations.models import WidgetSettings
from chatmina.errors import UserError
from chatmina.storage import crypto
from chatmina.storage.db import Database
from chatmina.storage.keys import Keys

IDENTITY_MODES = ("off", "optional", "required")
POSITIONS = ("right", "left")
MAX_SUGGESTIONS = 6
MAX_ORIGINS = 50
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class WidgetConfig:
    title: str = "Support"
    subtitle: str = "We usually answer right away."
    primary_color: str = "#2563eb"
    text_on_primary: str = "#ffffff"
    position: str = "right"
    avatar_url: str = ""
    greeting: str = "Hi! How can we help you today?"
    suggestions: list[str] = field(default_factory=list)
    launcher_label: str = "Chat with us"
    default_locale: str = "en"
    strings: dict[str, dict[str, str]] = field(default_factory=dict)
    allowed_origins: list[str] = field(default_factory=list)
    identity_verification: str = "off"
    identity_secret: str = ""
    handoff_enabled: bool = True
    notify_by_email: bool = True  # when a visitor asks for a person and nobody watches

    @property
    def identity_secret_masked(self) -> str:
        return crypto.mask(self.identity_secret)


def _identity(workspace_id: int) -> str:
    return f"widget_settings:{workspace_id}"


def load(db: Database, keys: Keys, workspace_id: int) -> WidgetConfig:
    with db.read() as s:
        row = s.get(WidgetSettings, workspace_id)
    if row is None:
        return WidgetConfig()
    secret = (
        crypto.decrypt(keys.secrets, row.identity_secret_encrypted, _identity(workspace_id))
        if row.identity_secret_encrypted
        else ""
    )
    return WidgetConfig(
        title=row.title,
        subtitle=row.subtitle,
        primary_color=row.primary_color,
        text_on_primary=row.text_on_primary,
        position=row.position,
        avatar_url=row.avatar_url,
        greeting=row.greeting,
        suggestions=list(row.suggestions),
        launcher_label=row.launcher_label,
        default_locale=row.default_locale,
        strings={k: dict(v) for k, v in row.strings.items()},
        allowed_origins=list(row.allowed_origins),
        identity_verification=row.identity_verification,
        identity_secret=secret,
        handoff_enabled=row.handoff_enabled,
        notify_by_email=row.notify_by_email,
    )


# -- validation ---------------------------------------------------------------------------


def _line(raw: str, name: str, label: str, limit: int, *, required: bool = False) -> str:
    value = " ".join(raw.split())
    if required and not value:
        raise UserError(f"{label} cannot be empty.", name)
    if len(value) > limit:
        raise UserError(f"{label} is limited to {limit} characters.", name)
    return value


def _color(raw: str, name: str, label: str) -> str:
    value = raw.strip()
    if not _COLOR.match(value):
        raise UserError(f"{label} must be a colour like #2563eb.", name)
    return value.lower()


def clean_origin(raw: str) -> str:
    """ "https://shop.example.com" exactly: scheme, host and port, nothing else."""
    value = raw.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("not an origin")
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("not an origin")
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "[::1]"):
        raise ValueError("http is only for localhost")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"


def _origins(raw: str) -> list[str]:
    found: list[str] = []
    for line in raw.replace(",", "\n").splitlines():
        if not line.strip():
            continue
        try:
            origin = clean_origin(line)
        except ValueError:
            raise UserError(
                f"“{line.strip()[:80]}” is not an origin. Write one per line, like "
                "https://shop.example.com (http:// only for localhost).",
                "allowed_origins",
            ) from None
        if origin not in found:
            found.append(origin)
    if len(found) > MAX_ORIGINS:
        raise UserError(f"List at most {MAX_ORIGINS} origins.", "allowed_origins")
    return found


def _avatar(raw: str) -> str:
    value = raw.strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or len(value) > 500:
        raise UserError(
            "The avatar must be an https:// image URL of at most 500 characters.", "avatar_url"
        )
    return value


def _suggestions(raw: str) -> list[str]:
    items = [" ".join(line.split()) for line in raw.splitlines() if line.strip()]
    if len(items) > MAX_SUGGESTIONS:
        raise UserError(f"Offer at most {MAX_SUGGESTIONS} suggested questions.", "suggestions")
    if any(len(i) > 120 for i in items):
        raise UserError("A suggested question is limited to 120 characters.", "suggestions")
    return items


def parse_strings(raw: str) -> dict[str, dict[str, str]]:
    """Overrides written one per line as ``locale.key = text`` (``de.send = Los``)."""
    found: dict[str, dict[str, str]] = {}
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, text = line.partition("=")
        locale, dot, key = name.strip().partition(".")
        locale = texts.base_locale(locale)
        if not sep or not dot or not locale.isalpha() or key.strip() not in texts.DEFAULT_STRINGS:
            raise UserError(
                f"Line {number}: write locale.key = text, with a key from the list "
                "(for example: de.send = Los).",
                "strings",
            )
        value = text.strip()
        if not value or len(value) > 300:
            raise UserError(f"Line {number}: the text must be 1 to 300 characters.", "strings")
        found.setdefault(locale, {})[key.strip()] = value
    return found


def format_strings(strings: Mapping[str, Mapping[str, str]]) -> str:
    return "\n".join(
        f"{locale}.{key} = {text}"
        for locale, items in sorted(strings.items())
        for key, text in items.items()
    )


def save(db: Database, keys: Keys, workspace_id: int, form: Mapping[str, str]) -> WidgetConfig:
    """Validate every field first, then write them in one transaction (or nothing)."""
    mode = form.get("identity_verification", "off")
    if mode not in IDENTITY_MODES:
        raise UserError("Choose off, optional or required.", "identity_verification")
    position = form.get("position", "right")
    if position not in POSITIONS:
        raise UserError("Choose right or left.", "position")
    locale = texts.base_locale(form.get("default_locale", "en")) or "en"
    if not locale.isalpha():
        raise UserError("Write a language code such as en or de.", "default_locale")
    greeting = form.get("greeting", "").strip().replace("\r\n", "\n")
    if len(greeting) > 1000:
        raise UserError("The greeting is limited to 1,000 characters.", "greeting")
    values: dict[str, Any] = {
        "title": _line(form.get("title", ""), "title", "The title", 60, required=True),
        "subtitle": _line(form.get("subtitle", ""), "subtitle", "The subtitle", 120),
        "primary_color": _color(form.get("primary_color", ""), "primary_color", "The colour"),
        "text_on_primary": _color(
            form.get("text_on_primary", ""), "text_on_primary", "The text colour"
        ),
        "position": position,
        "avatar_url": _avatar(form.get("avatar_url", "")),
        "greeting": greeting,
        "suggestions": _suggestions(form.get("suggestions", "")),
        "launcher_label": _line(
            form.get("launcher_label", ""), "launcher_label", "The button label", 60, required=True
        ),
        "default_locale": locale,
        "strings": parse_strings(form.get("strings", "")),
        "allowed_origins": _origins(form.get("allowed_origins", "")),
        "identity_verification": mode,
        "handoff_enabled": form.get("handoff_enabled") in ("on", "1", "true"),
        "notify_by_email": form.get("notify_by_email") in ("on", "1", "true"),
    }
    with db.write() as s:
        row = s.get(WidgetSettings, workspace_id)
        if row is None:
            row = WidgetSettings(workspace_id=workspace_id, identity_secret_encrypted="")
            s.add(row)
        for name, value in values.items():
            setattr(row, name, value)
        if mode != "off" and not row.identity_secret_encrypted:
            row.identity_secret_encrypted = _new_secret(keys, workspace_id)[1]
        row.updated_at = clock.now()
    return load(db, keys, workspace_id)


def _new_secret(keys: Keys, workspace_id: int) -> tuple[str, str]:
    """A fresh identity secret and its stored (encrypted) form."""
    secret = "whs_" + secrets.token_urlsafe(32)
    return secret, crypto.encrypt(keys.secrets, secret, _identity(workspace_id))


def rotate_secret(db: Database, keys: Keys, workspace_id: int) -> str:
    """A new identity secret (the old one stops verifying at once); returns it."""
    secret, encrypted = _new_secret(keys, workspace_id)
    with db.write() as s:
        row = s.get(WidgetSettings, workspace_id)
        if row is None:
            defaults = WidgetConfig()
            row = WidgetSettings(
                workspace_id=workspace_id,
                **{
                    f.name: getattr(defaults, f.name)
                    for f in fields(WidgetConfig)
                    if f.name != "identity_secret"  # stored encrypted, set below
                },
            )
            s.add(row)
        row.identity_secret_encrypted = encrypted
        row.updated_at = clock.now()
    return secret


def public_config(public_id: str, name: str, config: WidgetConfig, locale: str) -> dict[str, Any]:
    """What GET /config answers: everything the widget needs, no secret."""
    chosen = texts.base_locale(locale) or config.default_locale
    if chosen not in texts.LOCALES and chosen not in config.strings:
        chosen = config.default_locale
    return {
        "public_id": public_id,
        "name": name,
        "appearance": {
            "title": config.title,
            "subtitle": config.subtitle,
            "primary_color": config.primary_color,
            "text_on_primary": config.text_on_primary,
            "position": config.position,
            "avatar_url": config.avatar_url,
            "launcher_label": config.launcher_label,
        },
        "greeting": config.greeting,
        "suggestions": list(config.suggestions),
        "locale": chosen,
        "strings": texts.resolve(chosen, config.strings),
        "identity": config.identity_verification,
        "handoff_enabled": config.handoff_enabled,
    }
