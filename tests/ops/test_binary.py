"""The one-file binary itself, as an admin runs it: serve, set up, import, search, back up, stop.

`make binary` builds dist/chatmina (`.ci/run` does it before the tests). Without the binary
these tests are skipped, except in CI (CI=true), where a missing binary is a failure.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import MASTER_KEY, PASSWORD
from tests.fakes.openai_server import FakeOpenAI, Say
from tests.server_helpers import RunningServer

ROOT = Path(__file__).resolve().parent.parent.parent
BINARY = ROOT / "dist" / "chatmina"
ARTICLE = """# Refunds

Refunds go back to the original card within 14 days of the purchase. Gift cards are
refunded as store credit.
"""


@pytest.fixture(scope="module")
def binary() -> Path:
    if not BINARY.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{BINARY} is missing: CI builds it with `make binary` first")
        pytest.skip(f"{BINARY} is missing: build it with `make binary`")
    return BINARY


def _environment(**extra: str) -> dict[str, str]:
    """Nothing of this checkout's Python: the binary must bring everything it needs."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "CHATMINA_MASTER_KEY": MASTER_KEY,
        "CHATMINA_PASSWORD_HASHING": "insecure-fast",
    }
    env.update(extra)
    return env


class BinaryServer(RunningServer):
    def __init__(self, binary: Path, data_dir: Path, **env: str) -> None:
        super().__init__(data_dir, master_key=MASTER_KEY)
        self.binary = binary
        self.env = _environment(**env)

    @property
    def command(self) -> list[str]:
        return [str(self.binary), *super().command[3:]]


def run(binary: Path, data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), "--data-dir", str(data_dir), *args],
        env=_environment(**env),
        cwd=data_dir.parent,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _has_knowledge_base(binary: Path, data_dir: Path) -> bool:
    return run(binary, data_dir, "kb", "--help").returncode == 0


def test_the_binary_serves_imports_answers_backs_up_and_stops_cleanly(
    binary: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    model = FakeOpenAI().start()
    server = BinaryServer(
        binary, data_dir, CHATMINA_LLM_BASE_URL=model.base_url, CHATMINA_LLM_MODEL="llama3.2"
    ).start(timeout=30)
    try:
        health = httpx.get(server.url + "/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"

        made = run(
            binary,
            data_dir,
            "create-admin",
            "--email",
            "olivia@example.com",
            "--name",
            "Olivia",
            "--workspace",
            "Acme Support",
            CHATMINA_ADMIN_PASSWORD=PASSWORD,
        )
        assert made.returncode == 0, made.stderr
        slug = made.stdout.strip()
        assert slug == "acme-support"

        if _has_knowledge_base(binary, data_dir):
            article = tmp_path / "refunds.md"
            article.write_text(ARTICLE)
            imported = run(binary, data_dir, "kb", "import", "--workspace", slug, str(article))
            assert imported.returncode == 0, imported.stderr
            key = run(binary, data_dir, "api-key", "create", "--workspace", slug, "--name", "smoke")
            assert key.returncode == 0, key.stderr
            found = httpx.get(
                server.url + "/api/v1/articles",
                params={"q": "refund card"},
                headers={"Authorization": f"Bearer {key.stdout.strip()}"},
            )
            assert found.status_code == 200, found.text
            assert [a["title"] for a in found.json()["items"]] == ["Refunds"]
            # A visitor's question, answered from the knowledge base (vectors + full text).
            answer = httpx.get(
                server.url + "/api/v1/search",
                params={"q": "how long until my refund reaches my card?"},
                headers={"Authorization": f"Bearer {key.stdout.strip()}"},
            )
            assert answer.status_code == 200, answer.text
            best = answer.json()[0]
            assert best["title"] == "Refunds" and "14 days" in best["text"]
            # The same question through the OpenAI-compatible endpoint and the chat model
            # (the model's client is loaded lazily: this proves the binary carries it).
            model.script(Say("Within 14 days [1]."))
            chat = httpx.post(
                server.url + "/v1/chat/completions",
                json={"messages": [{"role": "user", "content": "When is my refund paid?"}]},
                headers={"Authorization": f"Bearer {key.stdout.strip()}"},
                timeout=30,
            )
            assert chat.status_code == 200, chat.text
            assert chat.json()["choices"][0]["message"]["content"] == "Within 14 days [1]."
            assert chat.json()["citations"][0]["title"] == "Refunds"

        backup = run(binary, data_dir, "backup", "--to", str(tmp_path / "smoke.db"))
        assert backup.returncode == 0, backup.stderr
    finally:
        code = server.stop(timeout=10)
        model.stop()
    assert code == 0, server.output
    assert "Traceback" not in server.output

    verified = run(binary, data_dir, "verify-backup", str(tmp_path / "smoke.db"))
    assert verified.returncode == 0, verified.stderr
    assert "1 users, 1 workspaces" in verified.stdout
    doctor = run(binary, data_dir, "doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "integrity check passed" in doctor.stdout


def test_the_binary_reports_a_wrong_key_in_one_line(binary: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert run(binary, data_dir, "migrate").returncode == 0
    wrong = run(binary, data_dir, "migrate", CHATMINA_MASTER_KEY="9f" * 32)
    assert wrong.returncode != 0
    assert "Traceback" not in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr
    assert "does not open" in wrong.stderr
