"""``chatmina kb import``, run for real in a subprocess against a real data directory."""

from __future__ import annotations

from pathlib import Path

from chatmina.knowledge import service
from chatmina.settings import Settings
from chatmina.ui.context import Services
from tests.conftest import Personas
from tests.knowledge.conftest import assert_consistent
from tests.ops.helpers import assert_one_line_error, chatmina


def _help_center(tmp_path: Path) -> Path:
    root = tmp_path / "help"
    (root / "billing").mkdir(parents=True)
    (root / "billing" / "refunds.md").write_text("# Refunds\n\nWithin 30 days, to your card.\n")
    (root / "shipping.txt").write_text("We ship to every EU country in two to four days.\n")
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    (root / ".hidden.md").write_text("# Hidden\n\nNot imported.")
    (root / "notes.xyz").write_text(
        "ignored: unsupported files inside a directory are not picked up"
    )
    return root


def test_import_a_directory_with_progress_then_again_idempotently(
    tmp_path: Path, settings: Settings, services: Services, personas: Personas
) -> None:
    root = _help_center(tmp_path)
    services.db.checkpoint()
    first = chatmina(settings.data_path, "kb", "import", "--workspace", personas.a_slug, str(root))
    assert first.returncode == 1, first.stderr  # one file failed; the others are imported
    assert "2 imported, 0 updated, 0 skipped, 1 failed" in first.stdout
    assert "failed: help/broken.pdf:" in first.stderr and "Importing" in first.stderr
    assert "Traceback" not in first.stderr
    titles = sorted(a.title for a in service.list_articles(services.db, personas.a_id).articles)
    assert titles == ["Refunds", "Shipping"]
    assert_consistent(services)

    (root / "broken.pdf").unlink()
    second = chatmina(settings.data_path, "kb", "import", "--workspace", personas.a_slug, str(root))
    assert second.returncode == 0, second.stderr
    assert "0 imported, 0 updated, 2 skipped, 0 failed" in second.stdout


def test_bad_cli_input_is_one_line_and_imports_nothing(
    tmp_path: Path, settings: Settings, services: Services, personas: Personas
) -> None:
    root = _help_center(tmp_path)
    services.db.checkpoint()
    missing = chatmina(
        settings.data_path,
        "kb",
        "import",
        "--workspace",
        personas.a_slug,
        str(tmp_path / "nope.md"),
    )
    assert missing.returncode == 2 and "no such file or directory" in missing.stderr
    unknown = chatmina(settings.data_path, "kb", "import", "--workspace", "no-such-ws", str(root))
    assert_one_line_error(unknown, "no-such-ws")
    nothing = chatmina(settings.data_path, "kb", "import", "--workspace", personas.a_slug)
    assert nothing.returncode == 2 and "PATH" in nothing.stderr
    assert service.list_articles(services.db, personas.a_id).total == 0


def test_an_unusable_embedder_setting_is_one_line_naming_it(
    tmp_path: Path, settings: Settings, services: Services, personas: Personas
) -> None:
    root = _help_center(tmp_path)
    services.db.checkpoint()
    result = chatmina(
        settings.data_path,
        "kb",
        "import",
        "--workspace",
        personas.a_slug,
        str(root),
        CHATMINA_EMBEDDINGS=f"model2vec:{tmp_path / 'no-model'}",
    )
    assert_one_line_error(result, "no-model")
    assert service.list_articles(services.db, personas.a_id).total == 0
