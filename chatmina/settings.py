"""Every setting Chatmina reads, in one registry.

Each setting is read from ``CHATMINA_<NAME>`` in the environment. Secrets may instead be
read from a file named by ``CHATMINA_<NAME>_FILE`` (Docker and systemd credentials).
Parsing is strict: a value that is not exactly one of the accepted forms is an error that
names the variable, never a silent fallback to the default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "CHATMINA_"


class SettingsError(ValueError):
    """A setting has a value Chatmina cannot use; the message names the variable."""


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("true", "1", "on"):
        return True
    if value in ("false", "0", "off"):
        return False
    raise ValueError("expected true or false")


def _parse_int(raw: str) -> int:
    # int() alone would also take "8_000", "+80" and non-ASCII digits.
    value = raw.strip()
    if not re.fullmatch(r"-?[0-9]+", value):
        raise ValueError("expected a whole number")
    return int(value)


def _parse_str(raw: str) -> str:
    return raw.strip()


def _choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in options:
            raise ValueError("expected one of " + ", ".join(options))
        return value

    return parse


def _parse_url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("expected an http:// or https:// URL")
    return value


def _parse_embeddings(raw: str) -> str:
    value = raw.strip()
    kind, colon, directory = value.partition(":")
    if not colon and kind.lower() in ("builtin", "openai"):
        return kind.lower()
    if kind.lower() == "model2vec" and directory.strip():
        return "model2vec:" + directory.strip()
    raise ValueError("expected builtin, openai or model2vec:<model directory>")


def _parse_hosts(raw: str) -> str:
    value = raw.strip()
    if value:
        # Checked here, at start-up, so a typo is one clear error and never a failed import
        # later. (chatmina.net brings httpx: imported only when the setting is used.)
        from chatmina.net import Allowlist

        Allowlist.parse(value)
    return value


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = _parse_str
    secret: bool = False
    minimum: int | None = None
    maximum: int | None = None

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "data_dir",
        "./chatmina-data",
        "Directory holding the encrypted database, key, backups and outbox.",
    ),
    Setting("host", "127.0.0.1", "Address the web server listens on."),
    Setting("port", 8000, "Port the web server listens on.", _parse_int, minimum=1, maximum=65535),
    Setting(
        "public_url",
        "",
        "URL visitors and admins use to reach Chatmina, used in emails "
        "and the widget snippet. Empty means http://HOST:PORT. An https:// URL turns on "
        "Secure cookies.",
        _parse_url,
    ),
    Setting(
        "master_key",
        "",
        "The 32-byte master key as 64 hex characters. Prefer "
        "CHATMINA_MASTER_KEY_FILE. Empty means <data dir>/master.key, created on first run.",
        secret=True,
    ),
    Setting("log_level", "info", "Log verbosity.", _choice("debug", "info", "warning", "error")),
    Setting(
        "log_format",
        "plain",
        "Log lines for people (plain) or one JSON object per line (json).",
        _choice("plain", "json"),
    ),
    Setting(
        "access_log",
        False,
        "Log one line per HTTP request (method, path without query string, status).",
        _parse_bool,
    ),
    Setting(
        "backup_keep",
        7,
        "Daily backups kept in <data dir>/backups; 0 turns them off. None is kept "
        "longer than 30 days.",
        _parse_int,
        minimum=0,
        maximum=30,
    ),
    Setting(
        "password_hashing",
        "rfc9106-low-memory",
        "Argon2id parameters: the RFC 9106 "
        "low-memory profile. 'insecure-fast' exists for the test suite only.",
        _choice("rfc9106-low-memory", "insecure-fast"),
    ),
    Setting(
        "session_idle_minutes", 720, "A session not used for this long ends.", _parse_int, minimum=5
    ),
    Setting(
        "session_max_hours",
        336,
        "A session ends this long after login, used or not.",
        _parse_int,
        minimum=1,
    ),
    Setting(
        "login_attempts_per_account",
        5,
        "Failed logins allowed per account in 15 minutes.",
        _parse_int,
        minimum=1,
    ),
    Setting(
        "login_attempts_per_ip",
        20,
        "Failed logins allowed per client address in 15 minutes.",
        _parse_int,
        minimum=1,
    ),
    Setting(
        "trusted_proxies",
        "",
        "Comma-separated addresses of reverse proxies whose "
        "X-Forwarded-For header names the client address.",
    ),
    Setting("mail_from", "Chatmina <chatmina@localhost>", "Sender of emails Chatmina sends."),
    Setting(
        "import_max_file_mb",
        25,
        "Largest file, in MB, that a knowledge import accepts (uploads, URLs, zip members).",
        _parse_int,
        minimum=1,
        maximum=1024,
    ),
    Setting(
        "allowed_private_hosts",
        "",
        "Comma-separated host[:port] entries that URL imports and webhooks may reach even "
        "though they resolve to private or loopback addresses (systems on the same host or "
        "LAN). Link-local and cloud-metadata addresses are never reachable.",
        _parse_hosts,
    ),
    Setting(
        "webhook_timeout_seconds",
        10,
        "How long an event webhook delivery may take (connect, send, answer) before the "
        "attempt counts as failed and is retried later.",
        _parse_int,
        minimum=1,
        maximum=60,
    ),
    Setting(
        "embeddings",
        "builtin",
        "How knowledge is turned into vectors for search: builtin (no model, no network), "
        "openai (OpenAI or a compatible server) or model2vec:<directory> (a static model "
        "copied onto this machine).",
        _parse_embeddings,
    ),
    Setting(
        "embeddings_base_url",
        "https://api.openai.com/v1",
        "Base URL of the OpenAI-compatible embeddings API, used with embeddings=openai.",
        _parse_url,
    ),
    Setting(
        "embeddings_api_key",
        "",
        "API key for the embeddings server. Prefer CHATMINA_EMBEDDINGS_API_KEY_FILE.",
        secret=True,
    ),
    Setting(
        "embeddings_model",
        "text-embedding-3-small",
        "Embedding model to ask for, used with embeddings=openai.",
    ),
    Setting(
        "llm_base_url",
        "https://api.openai.com/v1",
        "Base URL of the OpenAI-compatible chat API (OpenAI, Ollama, llama.cpp, vLLM, "
        "LM Studio). Workspaces may set their own in Settings.",
        _parse_url,
    ),
    Setting(
        "llm_api_key",
        "",
        "API key for the chat model. Prefer CHATMINA_LLM_API_KEY_FILE.",
        secret=True,
    ),
    Setting(
        "llm_model",
        "",
        "Chat model to answer with. Empty (the default): no model; answers are quoted "
        "from the knowledge base, with citations and the offer of a person.",
    ),
    Setting(
        "llm_timeout_seconds",
        60,
        "How long to wait for the chat model before telling the visitor it is unavailable.",
        _parse_int,
        minimum=1,
        maximum=600,
    ),
    Setting(
        "widget_messages_per_minute",
        20,
        "Messages one widget visitor may send per minute.",
        _parse_int,
        minimum=1,
    ),
    Setting(
        "widget_requests_per_minute",
        300,
        "Widget API requests (every route), per client address per minute.",
        _parse_int,
        minimum=1,
    ),
    Setting(
        "embeddings_dimensions",
        0,
        "Vector size to ask the embedding model for; 0 means the model's own size.",
        _parse_int,
        minimum=0,
        maximum=8192,
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    """The effective configuration; build it with :func:`load_settings`."""

    values: Mapping[str, Any]
    sources: Mapping[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def data_path(self) -> Path:
        return Path(self.values["data_dir"]).expanduser().resolve()

    @property
    def base_url(self) -> str:
        if self.values["public_url"]:
            return str(self.values["public_url"])
        host = self.values["host"]
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        return f"http://{shown}:{self.values['port']}"

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    def replace(self, **changes: Any) -> Settings:
        values = dict(self.values)
        sources = dict(self.sources)
        for name, value in changes.items():
            if name not in _BY_NAME:
                raise KeyError(name)
            values[name] = value
            sources[name] = "override"
        return Settings(values, sources)

    def masked(self) -> list[tuple[str, str, str]]:
        """(environment variable, shown value, source) for every setting, secrets masked."""
        rows = []
        for s in SETTINGS:
            value = self.values[s.name]
            shown = ("********" if value else "(not set)") if s.secret else str(value)
            rows.append((s.env, shown, self.sources.get(s.name, "default")))
        return rows


def _read_secret_file(setting: Setting, path: str) -> str:
    try:
        value = Path(path).read_text().strip()
    except OSError as exc:
        raise SettingsError(f"{setting.env}_FILE: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{setting.env}_FILE: {path} is not a text file") from None
    if not value:
        # An empty secret means "not set", which for the master key would silently fall back
        # to <data dir>/master.key: a file that was named but is empty is a mistake.
        raise SettingsError(f"{setting.env}_FILE: {path} is empty")
    return value


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read every setting from ``environ`` (default ``os.environ``), then apply overrides.

    Overrides come from command-line flags and win over the environment; ``None`` means
    "flag not given".
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for s in SETTINGS:
        raw: str | None = None
        if s.secret and env.get(s.env + "_FILE"):
            raw = _read_secret_file(s, env[s.env + "_FILE"])
            sources[s.name] = s.env + "_FILE"
        elif s.env in env:
            raw = env[s.env]
            sources[s.name] = s.env
        override = overrides.get(s.name)
        if override is not None:
            values[s.name] = override
            sources[s.name] = "command line"
        elif raw is None:
            values[s.name] = s.default
        else:
            values[s.name] = _parse(s, raw)
    for name in overrides:
        if name not in _BY_NAME:
            raise KeyError(name)
    return Settings(values, sources)


def _parse(s: Setting, raw: str) -> Any:
    try:
        value = s.parse(raw)
    except ValueError as exc:
        shown = "(hidden)" if s.secret else repr(raw)
        raise SettingsError(f"{s.env}={shown}: {exc}") from None
    if isinstance(value, int) and not isinstance(value, bool):
        if s.minimum is not None and value < s.minimum:
            raise SettingsError(f"{s.env}={raw!r}: must be at least {s.minimum}")
        if s.maximum is not None and value > s.maximum:
            raise SettingsError(f"{s.env}={raw!r}: must be at most {s.maximum}")
    return value
