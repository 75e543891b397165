"""Chatmina's own time to first token, with the fake model streaming 50 tokens/s.

Overhead = (request sent → first answer token received, at the client) minus the fake
model's own time to first token (request read → first token written, measured in the
model's process). The server is the real ``chatmina serve`` in its own process; the fake
model runs in another, the client in this one, all on the same 2 cores.

- ``answer_ttft_overhead_100k_*``: one question at a time, 100,000 chunks in the workspace
  (the knowledge-base benchmark's corpus). Targets p50 ≤ 10 ms, p95 ≤ 30 ms.
- ``answer_ttft_overhead_small_p50_ms``: the same in a help center of 600 articles
  (reported, no target).
- ``answer_concurrent_*``: 200 streamed answers at once (arriving over 4 s, each 250
  tokens, so all 200 stream together), in a help center of 600 articles. Targets overhead
  p95 ≤ 50 ms and server RSS ≤ 250 MB.

The relevance threshold is 0 so that every question goes to the model.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.perf.common import Result, median, percentile, rss_mb
from tests.perf.kb_ingest import BIG_DIR, MASTER_KEY, build_big, ingest, open_workspace
from tests.perf.synthetic_help import queries
from tests.server_helpers import RunningServer

TOKENS_PER_SECOND = 50.0
SEQUENTIAL = 100
CONCURRENT = 200
RAMP_SECONDS = 4.0
LONG_ANSWER_TOKENS = 250
SMALL_ARTICLES = 600
P50_TARGET_MS, P95_TARGET_MS = 10.0, 30.0
CONCURRENT_P95_TARGET_MS, RSS_TARGET_MB = 50.0, 250.0


class FakeModel:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.perf.fake_model", str(TOKENS_PER_SECOND)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()

    def first_token_times(self) -> list[float]:
        return list(httpx.get(self.base_url + "/stats").json()["first_token_times"])

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


def prepare(data_dir: Path, model_url: str) -> str:
    """Point the workspace at the fake model; returns a new API key."""
    from chatmina.accounts import service as accounts
    from chatmina.assistant import service as assistant

    services, workspace_id = open_workspace(data_dir)
    form = assistant.AssistantForm(
        assistant_name="Bench",
        tone="friendly",
        instructions="",
        knowledge_mode="knowledge_only",
        relevance_threshold="0",
        max_sources="6",
        max_tool_calls="0",
        llm_base_url=model_url,
        llm_model="gpt-4o-mini",
    )
    db, keys = services.db, services.keys  # type: ignore[attr-defined]
    assistant.save_config(db, keys, workspace_id, form, allowed_private_hosts="127.0.0.1")
    _, key = accounts.create_api_key(db, keys, workspace_id, "bench", None)
    db.checkpoint()
    db.close()
    return key


async def ask(client: httpx.AsyncClient, question: str) -> float:
    """Milliseconds to the first non-empty answer token; reads the answer to its end."""
    body = {
        "model": "chatmina",
        "stream": True,
        "messages": [{"role": "user", "content": question}],
    }
    began = time.perf_counter()
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        if response.status_code != 200:
            await response.aread()
            raise RuntimeError(response.text)
        buffer = b""
        chunks = response.aiter_raw()
        async for data in chunks:
            buffer += data
            if _has_token(buffer):
                first = time.perf_counter() - began
                break
        else:
            raise RuntimeError("the answer ended without a token")
        async for _ in chunks:  # the rest, unparsed: the client stays cheap
            pass
    return first * 1000


def _has_token(buffer: bytes) -> bool:
    for event in buffer.split(b"\n\n"):
        if event.startswith(b"data: {"):
            try:
                choices = json.loads(event[6:])["choices"]
            except ValueError:
                return False  # not complete yet
            if choices and choices[0]["delta"].get("content"):
                return True
    return False


def _client(url: str, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=120,
        limits=httpx.Limits(max_connections=CONCURRENT + 10, max_keepalive_connections=CONCURRENT),
    )


async def _sequential(url: str, key: str, questions: list[str]) -> list[float]:
    async with _client(url, key) as client:
        for q in questions[:10]:  # warm-up: thread pool, connections, page cache
            await ask(client, q)
        return [await ask(client, q) for q in questions[10:]]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _concurrent(
    url: str, key: str, questions: list[str], server_pid: int
) -> tuple[list[float], float, float]:
    """TTFTs, the server's peak RSS, and its CPU use (cores busy) while the answers ran."""
    peak = [0.0]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb(server_pid))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    async with _client(url, key) as client:
        for q in questions[:5]:
            await ask(client, q)
        watcher.start()
        cpu_before, began = cpu_seconds(server_pid), time.perf_counter()
        tasks = []
        for q in questions[5 : 5 + CONCURRENT]:
            tasks.append(asyncio.create_task(ask(client, q)))
            await asyncio.sleep(RAMP_SECONDS / CONCURRENT)
        times = await asyncio.gather(*tasks)
        busy = (cpu_seconds(server_pid) - cpu_before) / (time.perf_counter() - began)
    done.set()
    watcher.join()
    return list(times), peak[0], busy


def _overheads(client_ms: list[float], model_s: list[float]) -> list[float]:
    """Client times minus the model's own median time to first token (per-request pairing
    is not possible across processes; the model's times vary by well under a millisecond)."""
    own = median(model_s) * 1000
    return [t - own for t in client_ms]


def _serve(data_dir: Path, run: Any) -> Any:
    server = RunningServer(data_dir, master_key=MASTER_KEY)
    server.start()
    try:
        return run(server)
    finally:
        server.stop()


def run() -> list[Result]:
    if not (BIG_DIR / "chatmina.db").exists():
        build_big()
    model = FakeModel()
    results: list[Result] = []
    try:
        key = prepare(BIG_DIR, model.base_url)
        qs = queries(SEQUENTIAL + 10, seed=17)
        before = len(model.first_token_times())
        client_ms = _serve(BIG_DIR, lambda s: asyncio.run(_sequential(s.url, key, qs)))
        own = model.first_token_times()[before + 10 :]
        over = _overheads(client_ms, own)
        detail = {
            "questions": len(over),
            "chunks": 100_000,
            "client_ttft_p50_ms": round(median(client_ms), 2),
            "model_ttft_p50_ms": round(median(own) * 1000, 2),
        }
        results += [
            Result(
                "answer_ttft_overhead_100k_p50_ms", median(over), P50_TARGET_MS, "ms", extra=detail
            ),
            Result(
                "answer_ttft_overhead_100k_p95_ms",
                percentile(over, 95),
                P95_TARGET_MS,
                "ms",
                extra=detail,
            ),
        ]

        with tempfile.TemporaryDirectory(prefix="chatmina-bench-") as scratch:
            small = Path(scratch) / "data"
            stats = ingest(small, SMALL_ARTICLES)
            key = prepare(small, model.base_url)
            # The same one-at-a-time measure in a help center of ordinary size: what the
            # pipeline costs when search is not most of it.
            few = queries(SEQUENTIAL + 10, seed=17)
            before = len(model.first_token_times())
            client_ms = _serve(small, lambda s: asyncio.run(_sequential(s.url, key, few)))
            over = _overheads(client_ms, model.first_token_times()[before + 10 :])
            results.append(
                Result(
                    "answer_ttft_overhead_small_p50_ms",
                    median(over),
                    None,
                    "ms",
                    extra={"p95_ms": round(percentile(over, 95), 2), "chunks": stats["chunks"]},
                )
            )
            # The fake answers "Answer to: <question>": a long question, a long answer.
            qs = [
                q + " " + " ".join(["detail"] * LONG_ANSWER_TOKENS)
                for q in queries(CONCURRENT + 5, seed=23)
            ]
            before = len(model.first_token_times())
            client_ms, peak, busy = _serve(
                small, lambda s: asyncio.run(_concurrent(s.url, key, qs, s.pid))
            )
            own = model.first_token_times()[before + 5 :]
            over = _overheads(client_ms, own)
            detail = {
                "streams": CONCURRENT,
                "chunks": stats["chunks"],
                "client_ttft_p50_ms": round(median(client_ms), 2),
                "model_ttft_p50_ms": round(median(own) * 1000, 2),
                "server_cores_busy": round(busy, 2),
            }
            results += [
                Result("answer_concurrent_overhead_p50_ms", median(over), None, "ms", extra=detail),
                Result(
                    "answer_concurrent_overhead_p95_ms",
                    percentile(over, 95),
                    CONCURRENT_P95_TARGET_MS,
                    "ms",
                    extra=detail,
                ),
                Result(
                    "answer_concurrent_server_rss_mb",
                    peak,
                    RSS_TARGET_MB,
                    "MB",
                    extra={"streams": CONCURRENT},
                ),
            ]
    finally:
        model.close()
    return results
