"""The settings registry: strict parsing, *_FILE secrets, overrides, masking, and its docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chatmina.settings import SETTINGS, SettingsError, _parse_bool, load_settings

DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
KEY_HEX = "a1" * 32


def test_it_uses_the_defaults_when_nothing_is_set() -> None:
    settings = load_settings({})
    assert settings.port == 8000
    assert settings.log_level == "info"
    assert settings.sources.get("port") is None
    assert ("CHATMINA_PORT", "8000", "default") in settings.masked()


def test_it_reads_values_and_remembers_where_they_came_from() -> None:
    settings = load_settings({"CHATMINA_PORT": " 9000 ", "CHATMINA_LOG_LEVEL": "DEBUG"})
    assert settings.port == 9000
    assert settings.log_level == "debug"
    assert settings.sources["port"] == "CHATMINA_PORT"


@pytest.mark.parametrize(
    ("env", "raw"),
    [
        ("CHATMINA_PORT", "abc"),
        ("CHATMINA_PORT", "0"),
        ("CHATMINA_PORT", "70000"),
        ("CHATMINA_PORT", "8_000"),
        ("CHATMINA_PORT", ""),
        ("CHATMINA_LOG_LEVEL", "loud"),
        ("CHATMINA_PASSWORD_HASHING", "md5"),
        ("CHATMINA_PUBLIC_URL", "ftp://example.com"),
        ("CHATMINA_PUBLIC_URL", "example.com"),
        ("CHATMINA_SESSION_IDLE_MINUTES", "1"),
        ("CHATMINA_ALLOWED_PRIVATE_HOSTS", "intranet.lan, http://10.0.0.5/"),
        ("CHATMINA_ALLOWED_PRIVATE_HOSTS", "10.0.0.5:99999"),
    ],
)
def test_a_value_it_cannot_use_is_an_error_naming_the_variable(env: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(env + "=")):
        load_settings({env: raw})


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("False", False)])
def test_a_boolean_is_true_or_false(raw: str, expected: bool) -> None:
    assert _parse_bool(raw) is expected


@pytest.mark.parametrize("raw", ["yes", "no", "y", "", "truthy"])
def test_a_boolean_is_not_yes_or_anything_else(raw: str) -> None:
    with pytest.raises(ValueError, match="true or false"):
        _parse_bool(raw)


def test_a_public_url_loses_its_trailing_slash_and_https_means_secure_cookies() -> None:
    settings = load_settings({"CHATMINA_PUBLIC_URL": "https://help.example.com/"})
    assert settings.base_url == "https://help.example.com"
    assert settings.secure_cookies
    assert not load_settings({}).secure_cookies


def test_the_master_key_file_is_read(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY_HEX + "\n")
    settings = load_settings({"CHATMINA_MASTER_KEY_FILE": str(key_file)})
    assert settings.master_key == KEY_HEX
    assert settings.sources["master_key"] == "CHATMINA_MASTER_KEY_FILE"


def test_the_file_variant_wins_over_the_plain_variable(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY_HEX)
    environ = {"CHATMINA_MASTER_KEY_FILE": str(key_file), "CHATMINA_MASTER_KEY": "b2" * 32}
    assert load_settings(environ).master_key == KEY_HEX


@pytest.mark.parametrize(
    ("name", "message"),
    [("missing", "cannot read"), ("a-directory", "cannot read"), ("empty", "is empty")],
)
def test_a_secret_file_it_cannot_use_is_a_clear_error(
    tmp_path: Path, name: str, message: str
) -> None:
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "a-directory").mkdir()
    path = tmp_path / name
    with pytest.raises(SettingsError, match="CHATMINA_MASTER_KEY_FILE") as info:
        load_settings({"CHATMINA_MASTER_KEY_FILE": str(path)})
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_command_line_overrides_win_over_the_environment() -> None:
    environ = {"CHATMINA_PORT": "9000", "CHATMINA_HOST": "0.0.0.0"}
    settings = load_settings(environ, port=9100, host=None)
    assert settings.port == 9100
    assert settings.sources["port"] == "command line"
    assert settings.host == "0.0.0.0"  # None means the flag was not given


def test_an_unknown_override_is_refused() -> None:
    with pytest.raises(KeyError):
        load_settings({}, prot=9000)
    with pytest.raises(KeyError):
        load_settings({}).replace(prot=9000)


def test_masked_hides_secrets_and_shows_the_rest() -> None:
    rows = load_settings({"CHATMINA_MASTER_KEY": KEY_HEX, "CHATMINA_PORT": "9000"}).masked()
    assert KEY_HEX[:8] not in repr(rows)
    assert ("CHATMINA_MASTER_KEY", "********", "CHATMINA_MASTER_KEY") in rows
    assert ("CHATMINA_PORT", "9000", "CHATMINA_PORT") in rows
    assert [env for env, _, _ in rows] == [s.env for s in SETTINGS]
    unset = dict((env, shown) for env, shown, _ in load_settings({}).masked())
    assert unset["CHATMINA_MASTER_KEY"] == "(not set)"


# -- docs/configuration.md ---------------------------------------------------------------


def test_every_setting_is_in_the_configuration_docs() -> None:
    text = DOCS.read_text()
    missing = [s.env for s in SETTINGS if f"`{s.env}`" not in text]
    missing += [f"{s.env}_FILE" for s in SETTINGS if s.secret and f"`{s.env}_FILE`" not in text]
    assert not missing, f"add these to {DOCS.name}: {missing}"


def test_the_configuration_docs_name_no_setting_that_does_not_exist() -> None:
    known = {s.env for s in SETTINGS} | {f"{s.env}_FILE" for s in SETTINGS if s.secret}
    known.add("CHATMINA_ADMIN_PASSWORD")  # read by the CLI, not a setting
    named = set(re.findall(r"CHATMINA_[A-Z0-9_]+", DOCS.read_text()))
    assert named <= known, f"stale names in {DOCS.name}: {sorted(named - known)}"
