"""Crash safety: SIGKILL in the middle of writes and of an import loses nothing acknowledged.

The server is killed at random moments while clients write through the API and a
`chatmina kb import` runs beside it (killed too, as a power cut would). After each restart
every write a client saw acknowledged is there, the database passes its integrity check,
and no article is half-indexed: each has chunks, and each chunk its vector and its
full-text row.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from chatmina.settings import Settings
from chatmina.storage.db import connect_raw
from chatmina.storage.keys import DB_FILE_NAME
from chatmina.ui.context import Services
from tests.conftest import MASTER_KEY, Personas
from tests.ops.helpers import keys_of
from tests.server_helpers import RunningServer, server_env

ROUNDS = 5
ARTICLES_TO_IMPORT = 150


class Writer(threading.Thread):
    """Posts to one API endpoint until stopped; remembers each id the server acknowledged."""

    def __init__(self, url: str, api_key: str, path: str, body: dict[str, str], n0: int) -> None:
        super().__init__(daemon=True)
        self.url, self.path, self.body, self.n = url, path, body, n0
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.acknowledged: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=5) as client:
            while not self.stop.is_set():
                self.n += 1
                body = {k: v.format(n=self.n) for k, v in self.body.items()}
                try:
                    response = client.post(self.path, json=body)
                except httpx.HTTPError:
                    return  # the server is gone: whatever was not answered was not promised
                if response.status_code == 201:
                    self.acknowledged.append(response.json()["id"])


def _has_articles_api(url: str, api_key: str) -> bool:
    response = httpx.get(url + "/api/v1/articles", headers={"Authorization": f"Bearer {api_key}"})
    return response.status_code == 200


def _has_import_command() -> bool:
    probe = subprocess.run(
        [sys.executable, "-m", "chatmina", "kb", "--help"], capture_output=True, timeout=30
    )
    return probe.returncode == 0


def _start_import(data_dir: Path, folder: Path, slug: str) -> subprocess.Popen[str]:
    files = sorted(str(p) for p in folder.glob("*.md"))
    env = server_env(master_key=MASTER_KEY, CHATMINA_DATA_DIR=str(data_dir))
    return subprocess.Popen(
        [sys.executable, "-m", "chatmina", "kb", "import", "--workspace", slug, *files],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _help_center(tmp_path: Path, round_: int) -> Path:
    """Pages no earlier round imported, so every import writes."""
    folder = tmp_path / f"help-center-{round_}"
    folder.mkdir()
    for i in range(ARTICLES_TO_IMPORT):
        (folder / f"page-{i:03}.md").write_text(
            f"# Help page {round_}-{i}\n\n"
            + f"Answer {round_}-{i} explains shipping and returns. " * 40
        )
    return folder


def _wait_for_import(data_dir: Path, round_: int, timeout: float = 20.0) -> None:
    """Until the import has committed its first page: the kill must land in the middle."""
    deadline = time.monotonic() + timeout
    conn = connect_raw(data_dir / DB_FILE_NAME, keys_of(MASTER_KEY))
    try:
        while time.monotonic() < deadline:
            found = conn.execute(
                "SELECT count(*) FROM articles WHERE title LIKE ?", (f"Help page {round_}-%",)
            ).fetchone()
            if found[0] > 0:
                return
            time.sleep(0.05)
    finally:
        conn.close()
    raise AssertionError(f"the import wrote nothing within {timeout} s")


def _check(data_dir: Path, invitations: set[int], articles: set[int]) -> dict[str, int]:
    conn = connect_raw(data_dir / DB_FILE_NAME, keys_of(MASTER_KEY))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        found = {r[0] for r in conn.execute("SELECT id FROM invitations")}
        assert invitations <= found, f"acknowledged but lost: {sorted(invitations - found)}"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        if "articles" not in tables:
            return {"articles": 0}
        have = {r[0] for r in conn.execute("SELECT id FROM articles")}
        assert articles <= have, f"acknowledged but lost: {sorted(articles - have)}"
        assert conn.execute(
            "SELECT count(*) FROM articles a WHERE NOT EXISTS "
            "(SELECT 1 FROM chunks c WHERE c.article_id = a.id)"
        ).fetchone() == (0,), "an article without chunks"
        assert conn.execute(
            "SELECT count(*) FROM chunks WHERE id NOT IN (SELECT rowid FROM chunks_fts)"
        ).fetchone() == (0,), "a chunk without its full-text row"
        for (set_id,) in conn.execute(
            "SELECT id FROM embedding_sets WHERE status = 'active'"
        ).fetchall():
            missing = conn.execute(
                "SELECT count(*) FROM chunks c WHERE NOT EXISTS (SELECT 1 FROM chunk_vectors v "
                "WHERE v.chunk_id = c.id AND v.set_id = ?)",
                (set_id,),
            ).fetchone()
            assert missing == (0,), "a chunk without its vector"
            index = f"chunk_vec_{set_id}"
            in_index = conn.execute(
                f"SELECT count(*) FROM chunks WHERE id NOT IN (SELECT rowid FROM {index})"
            ).fetchone()
            assert in_index == (0,), "a chunk missing from the vector index"
        return {"articles": len(have)}
    finally:
        conn.close()


def test_sigkill_during_writes_and_an_import_loses_nothing_acknowledged(
    settings: Settings, services: Services, personas: Personas, tmp_path: Path
) -> None:
    services.db.close()
    data_dir = settings.data_path
    rng = random.Random(int(os.environ.get("CRASH_SEED", "0")) or None)
    invitations: set[int] = set()
    articles: set[int] = set()
    killed = imports_interrupted = 0
    can_import = _has_import_command()
    for round_ in range(ROUNDS):
        _check(data_dir, invitations, articles)  # before the restart recovers the WAL
        # The import starts alongside the server: both take about a second to get going.
        importer = None
        if can_import:
            importer = _start_import(data_dir, _help_center(tmp_path, round_), personas.a_slug)
        server = RunningServer(data_dir, master_key=MASTER_KEY).start()
        _check(data_dir, invitations, articles)  # after the restart, before new writes
        writers = [
            Writer(
                server.url,
                personas.a_key,
                "/api/v1/invitations",
                {"email": "r{n}@example.com", "role": "agent"},
                round_ * 100_000,
            )
        ]
        if _has_articles_api(server.url, personas.a_key):
            writers.append(
                Writer(
                    server.url,
                    personas.a_key,
                    "/api/v1/articles",
                    {"title": "Note {n}", "body": "Written while the server may die: {n}."},
                    round_ * 100_000,
                )
            )
        for writer in writers:
            writer.start()
        if importer is not None:
            _wait_for_import(data_dir, round_)
            imports_interrupted += 1
        time.sleep(rng.uniform(0.1, 0.8))
        os.kill(server.pid, signal.SIGKILL)
        if importer is not None:
            importer.send_signal(signal.SIGKILL)
            importer.wait(10)
        assert server.wait(10) == -signal.SIGKILL
        for writer in writers:
            writer.stop.set()
            writer.join(10)
        invitations.update(writers[0].acknowledged)
        if len(writers) > 1:
            articles.update(writers[1].acknowledged)
        killed += 1
    assert killed == ROUNDS
    assert len(invitations) > ROUNDS, "the writers never got an answer"
    server = RunningServer(data_dir, master_key=MASTER_KEY).start()
    try:
        final = _check(data_dir, invitations, articles)
    finally:
        assert server.stop() == 0
    assert final["articles"] >= len(articles) + imports_interrupted
