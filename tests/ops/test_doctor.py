"""`chatmina doctor` on a healthy installation and on broken ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatmina.settings import Settings
from chatmina.storage.keys import DB_FILE_NAME
from chatmina.ui.context import Services
from tests.fakes.openai_server import FakeOpenAI
from tests.mail.conftest import configured_smtp, free_port
from tests.ops.helpers import chatmina


@pytest.fixture(autouse=True)
def owner_only(settings: Settings) -> None:
    """As Chatmina itself creates them: the test fixtures copy files with the umask's modes."""
    settings.data_path.chmod(0o700)
    for path in settings.data_path.iterdir():
        path.chmod(0o600)


def lines(stdout: str) -> dict[str, str]:
    """check name -> status of the doctor's report."""
    found = {}
    for line in stdout.splitlines():
        status, _, rest = line.partition("  ")
        found[rest.strip().split("  ")[0]] = status.strip()
    return found


def test_a_healthy_installation_is_all_ok(settings: Settings, services: Services) -> None:
    services.db.close()
    for path in settings.data_path.iterdir():
        path.chmod(0o600)  # -wal and -shm, made by this process with the default umask
    result = chatmina(settings.data_path, "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    report = lines(result.stdout)
    assert report["data directory"] == "ok"
    assert report["database"] == "ok"
    assert report["free disk"] == "ok"
    assert report["smtp"] == "ok"
    # The key comes from CHATMINA_MASTER_KEY: it works, with advice to prefer a file.
    assert report["master key"] == "warn"
    assert "CHATMINA_MASTER_KEY_FILE" in result.stdout
    assert "integrity check passed" in result.stdout


def test_files_other_users_can_read_are_a_failure(settings: Settings, services: Services) -> None:
    services.db.close()
    settings.data_path.chmod(0o755)
    (settings.data_path / DB_FILE_NAME).chmod(0o644)
    result = chatmina(settings.data_path, "doctor")
    assert result.returncode == 1
    report = lines(result.stdout)
    assert report["data directory"] == "FAIL"
    assert report["file permissions"] == "FAIL"
    assert "chmod 700" in result.stdout
    assert f"{DB_FILE_NAME} (0644)" in result.stdout
    assert "2 problems found." in result.stderr


def test_a_wrong_key_and_a_damaged_database_are_failures(
    settings: Settings, services: Services
) -> None:
    services.db.close()
    wrong = chatmina(settings.data_path, "doctor", CHATMINA_MASTER_KEY="9f" * 32)
    assert wrong.returncode == 1
    assert lines(wrong.stdout)["database"] == "FAIL"
    assert "does not open" in wrong.stdout

    db = settings.data_path / DB_FILE_NAME
    with db.open("r+b") as f:
        f.seek(4096 * 3 + 100)
        f.write(b"\xff" * 64)
    damaged = chatmina(settings.data_path, "doctor")
    assert damaged.returncode == 1
    assert lines(damaged.stdout)["database"] == "FAIL"
    assert "restore a backup" in damaged.stdout


def test_an_interrupted_key_rotation_is_reported(settings: Settings, services: Services) -> None:
    services.db.close()
    (settings.data_path / "master.key.new").write_text("ab" * 32)
    result = chatmina(settings.data_path, "doctor")
    assert result.returncode == 1
    assert "run chatmina key rotate to finish it" in result.stdout


def test_smtp_is_probed_with_the_stored_login(settings: Settings, services: Services) -> None:
    with configured_smtp(services, from_address="help@example.com") as smtp_server:
        services.db.close()
        ok = chatmina(settings.data_path, "doctor")
        assert lines(ok.stdout)["smtp"] == "ok", ok.stdout
        assert "login ok" in ok.stdout
        assert smtp_server.received == []  # a check sends nothing


def test_an_unreachable_smtp_server_is_a_failure(settings: Settings, services: Services) -> None:
    port = free_port()
    services.mailer.save_smtp_settings(
        host="127.0.0.1",
        port=port,
        security="none",
        username="",
        password="",
        from_address="",
    )
    services.db.close()
    result = chatmina(settings.data_path, "doctor")
    assert result.returncode == 1
    assert lines(result.stdout)["smtp"] == "FAIL"
    assert f"cannot reach 127.0.0.1:{port}" in result.stdout


PROVIDERS = {
    # name: (settings that turn it on, base URL setting, key setting)
    "llm": ({"CHATMINA_LLM_MODEL": "llama3.2"}, "CHATMINA_LLM_BASE_URL", "CHATMINA_LLM_API_KEY"),
    "embeddings": (
        {"CHATMINA_EMBEDDINGS": "openai", "CHATMINA_EMBEDDINGS_MODEL": "nomic-embed-text"},
        "CHATMINA_EMBEDDINGS_BASE_URL",
        "CHATMINA_EMBEDDINGS_API_KEY",
    ),
}


@pytest.mark.parametrize("name", PROVIDERS)
def test_an_openai_compatible_server_is_probed_with_its_key_and_model(
    settings: Settings, services: Services, name: str
) -> None:
    services.db.close()
    turn_on, url_setting, key_setting = PROVIDERS[name]
    with FakeOpenAI(api_key="sk-ok") as fake:
        env = {**turn_on, url_setting: fake.base_url}
        good = chatmina(settings.data_path, "doctor", **env, **{key_setting: "sk-ok"})
        assert lines(good.stdout)[name] == "ok", good.stdout
        assert f"{fake.base_url} reachable, model" in good.stdout
        bad = chatmina(settings.data_path, "doctor", **env, **{key_setting: "sk-no"})
        assert bad.returncode == 1
        assert "refused the API key" in bad.stdout and "sk-no" not in bad.stdout
        fake.models.clear()
        missing = chatmina(settings.data_path, "doctor", **env, **{key_setting: "sk-ok"})
        assert lines(missing.stdout)[name] == "warn"
        assert "does not list the model" in missing.stdout


def test_without_a_chat_model_nothing_is_probed(settings: Settings, services: Services) -> None:
    services.db.close()
    result = chatmina(settings.data_path, "doctor")
    assert "none configured: answers quote the knowledge base" in result.stdout


def test_doctor_on_a_directory_that_does_not_exist_yet_creates_nothing(tmp_path: Path) -> None:
    result = chatmina(tmp_path / "new", "doctor")
    assert result.returncode == 0, result.stdout
    assert "does not exist yet" in result.stdout
    assert not (tmp_path / "new").exists()
