"""The widget's live connections under load, against the real ``chatmina serve``.

- ``conversations_sse_1000_server_rss_mb``: 1,000 widget visitors each hold their event
  stream (/api/widget/v1/…/events) open; the server's resident memory with all of them
  connected, and its peak during the next step. Target ≤ 300 MB.
- ``conversations_inbox_event_p95_ms``: with those 1,000 streams open, visitors send
  messages (20 a second, each answered by the assistant through the fake model at 50
  tokens/s); the time from the client starting POST /messages to the ``message`` event
  arriving on an agent's inbox stream (/w/<slug>/inbox/events). Target p95 ≤ 50 ms.
- ``conversations_inbox_event_no_answer_p95_ms``: the same with 200 other visitors who
  asked for a person first, so the assistant stays silent: the message path alone
  (reported, no target).

The numbers share 2 cores with the client, the fake model and whatever else runs on the
machine (``load1``): a server that gets less CPU than it needs queues the messages.

The streams are read by a small HTTP/1.1 client on asyncio (chunked transfer decoding,
Server-Sent Events parsing), so the client's own cost stays low on the shared 2 cores.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.perf.answer import FakeModel, cpu_seconds
from tests.perf.common import Result, median, percentile, rss_mb
from tests.perf.kb_ingest import MASTER_KEY, open_workspace
from tests.server_helpers import RunningServer

STREAMS = int(os.environ.get("BENCH_STREAMS", "1000"))
MESSAGES = 200
MESSAGE_RATE = 20.0  # per second
WARM_UP = 20
IDLE_SECONDS = 3.0
RSS_TARGET_MB = 300.0
P95_TARGET_MS = 50.0
PASSWORD = "correct horse battery"
TOPICS = ["refunds", "shipping", "passwords", "invoices", "accounts", "returns", "orders"]


def prepare(data_dir: Path, model_url: str) -> str:
    """A workspace with a small help center, answering with the fake model; its public id."""
    from chatmina.assistant import service as assistant
    from chatmina.knowledge import service as knowledge

    services: Any
    services, workspace_id = open_workspace(data_dir)
    for topic in TOPICS:
        body = f"# {topic.title()}\n\nHow {topic} work: open Settings, then {topic}.\n"
        data = knowledge.ArticleInput(title=topic.title(), body=body)
        knowledge.create_article(services.db, services.vectors, workspace_id, data)
    form = assistant.AssistantForm(
        assistant_name="Bench",
        tone="friendly",
        instructions="",
        knowledge_mode="knowledge_only",
        relevance_threshold="0",
        max_sources="4",
        max_tool_calls="0",
        llm_base_url=model_url,
        llm_model="gpt-4o-mini",
    )
    assistant.save_config(services.db, services.keys, workspace_id, form, "127.0.0.1")
    from chatmina.accounts.models import Workspace

    with services.db.read() as s:
        public_id = str(s.get(Workspace, workspace_id).public_id)
    services.db.checkpoint()
    services.db.close()
    return public_id


class EventStream:
    """One Server-Sent Events response, read frame by frame."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._buffer = b""

    @classmethod
    async def open(cls, url: str, path: str, headers: dict[str, str]) -> EventStream:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        head = f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        writer.write(head.encode())
        await writer.drain()
        status = await reader.readuntil(b"\r\n\r\n")
        if b" 200 " not in status.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"stream refused: {status[:200]!r}")
        return cls(reader, writer)

    async def _chunk(self) -> bytes:
        size = int((await self.reader.readline()).strip() or b"0", 16)
        if size == 0:
            raise EOFError("the stream ended")
        data = await self.reader.readexactly(size + 2)
        return data[:-2]

    async def frame(self) -> tuple[str, str]:
        """The next event: (name, data); comments (pings) are skipped."""
        while True:
            while b"\n\n" not in self._buffer:
                self._buffer += await self._chunk()
            raw, self._buffer = self._buffer.split(b"\n\n", 1)
            name, data = "message", []
            for line in raw.decode().split("\n"):
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data.append(line[6:])
            if data:
                return name, "\n".join(data)

    def close(self) -> None:
        self.writer.close()


async def _login(url: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await client.get("/login")
        response = await client.post(
            "/login",
            data={
                "email": "bench@example.com",
                "password": PASSWORD,
                "_csrf_token": client.cookies["chatmina_csrf"],
            },
        )
        assert response.status_code == 303, response.text
        return f"chatmina_session={client.cookies['chatmina_session']}"


async def _visitors(client: httpx.AsyncClient, public_id: str, count: int) -> list[str]:
    gate = asyncio.Semaphore(20)

    async def one() -> str:
        async with gate:
            response = await client.post(f"/api/widget/v1/{public_id}/visitors", json={})
            response.raise_for_status()
            return str(response.json()["visitor_token"])

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def _drain(stream: EventStream) -> None:
    try:
        while True:
            await stream.frame()
    except (EOFError, asyncio.IncompleteReadError, ConnectionError):
        return


async def _measure(url: str, public_id: str, pid: int) -> dict[str, Any]:
    peak = [0.0]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb(pid))
            time.sleep(0.05)

    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        rss_before = rss_mb(pid)
        tokens = await _visitors(client, public_id, STREAMS)
        path = f"/api/widget/v1/{public_id}/events"
        streams: list[EventStream] = []
        began = time.perf_counter()
        for batch in range(0, STREAMS, 50):
            opened = await asyncio.gather(
                *(
                    EventStream.open(url, path, {"Authorization": f"Bearer {t}"})
                    for t in tokens[batch : batch + 50]
                )
            )
            for stream in opened:
                name, _ = await stream.frame()  # the current state comes first
                assert name == "conversation"
            streams.extend(opened)
        connect_s = time.perf_counter() - began
        drains = [asyncio.create_task(_drain(s)) for s in streams]
        await asyncio.sleep(1.0)  # settle: let the server's allocator and GC catch up
        cpu_idle, idle_began = cpu_seconds(pid), time.perf_counter()
        await asyncio.sleep(IDLE_SECONDS)
        idle_busy = (cpu_seconds(pid) - cpu_idle) / (time.perf_counter() - idle_began)
        rss_idle = rss_mb(pid)

        inbox = await EventStream.open(url, "/w/bench/inbox/events", {"Cookie": await _login(url)})
        arrived: dict[str, float] = {}

        async def read_inbox() -> None:
            try:
                while True:
                    name, data = await inbox.frame()
                    if name == "message" and "bench-q-" in data:
                        key = data.split("bench-q-", 1)[1].split(" ", 1)[0]
                        arrived.setdefault(key, time.perf_counter())
            except (EOFError, asyncio.IncompleteReadError, ConnectionError):
                return

        reader = asyncio.create_task(read_inbox())
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        sent: dict[str, float] = {}
        answered: dict[str, float] = {}  # when POST /messages returned

        async def send(n: int) -> None:
            key = f"{n}x{uuid.uuid4().hex[:6]}"
            body = {
                "content": f"bench-q-{key} how do {TOPICS[n % len(TOPICS)]} work",
                "client_id": key,
            }
            headers = {"Authorization": f"Bearer {tokens[n % len(tokens)]}"}
            sent[key] = time.perf_counter()
            response = await client.post(
                f"/api/widget/v1/{public_id}/messages", json=body, headers=headers
            )
            assert response.status_code == 202, response.text
            answered[key] = time.perf_counter()

        for n in range(WARM_UP):  # first use: thread pool, page cache, templates, model client
            await send(STREAMS - 1 - n)
        await asyncio.sleep(2.0)

        async def phase(first: int) -> tuple[list[float], list[float], float]:
            """MESSAGES messages from visitors first.., MESSAGE_RATE a second: the inbox
            latencies, the POST response times, and the server's cores busy meanwhile."""
            sent.clear()
            answered.clear()
            cpu_before, began = cpu_seconds(pid), time.perf_counter()
            posts = []
            for n in range(first, first + MESSAGES):
                posts.append(asyncio.create_task(send(n)))
                await asyncio.sleep(1 / MESSAGE_RATE)
            await asyncio.gather(*posts)
            deadline = time.monotonic() + 30
            while any(k not in arrived for k in sent) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(3.0)  # the last answers finish streaming under the same load
            busy = (cpu_seconds(pid) - cpu_before) / (time.perf_counter() - began)
            latencies = [(arrived[k] - sent[k]) * 1000 for k in sent if k in arrived]
            missing = [k for k in sent if k not in arrived]
            latencies += [float("inf")] * len(missing)
            return latencies, [(answered[k] - sent[k]) * 1000 for k in answered], busy

        latencies, posts_ms, busy = await phase(0)
        # The same with the visitors waiting for a person: the assistant stays silent, so
        # this is the message path alone (the answer engine is the larger share above).
        waiting = range(MESSAGES, 2 * MESSAGES)
        for n in waiting:
            headers = {"Authorization": f"Bearer {tokens[n % len(tokens)]}"}
            await client.post(f"/api/widget/v1/{public_id}/handoff", json={}, headers=headers)
        await asyncio.sleep(1.0)
        quiet_latencies, quiet_posts_ms, quiet_busy = await phase(MESSAGES)
        done.set()
        watcher.join()
        open_at_end = sum(not d.done() for d in drains)
        reader.cancel()
        inbox.close()
        for stream in streams:
            stream.close()
        await asyncio.gather(*drains, return_exceptions=True)
    if os.environ.get("BENCH_DEBUG"):
        print([round(x) for x in latencies], file=sys.stderr)
    return {
        "post_p50_ms": round(median(posts_ms), 2) if posts_ms else None,
        "quiet_latencies": quiet_latencies,
        "quiet_post_p50_ms": round(median(quiet_posts_ms), 2) if quiet_posts_ms else None,
        "quiet_busy": quiet_busy,
        "rss_before": rss_before,
        "rss_idle": rss_idle,
        "rss_peak": max(peak[0], rss_idle),
        "latencies": latencies,
        "missing": sum(x == float("inf") for x in latencies),
        "connect_s": connect_s,
        "open_at_end": open_at_end,
        "busy": busy,
        "idle_busy": idle_busy,
    }


def run() -> list[Result]:
    model = FakeModel()
    try:
        with tempfile.TemporaryDirectory(prefix="chatmina-bench-conv-") as scratch:
            data = Path(scratch) / "data"
            public_id = prepare(data, model.base_url)
            server = RunningServer(
                data,
                master_key=MASTER_KEY,
                env={
                    "CHATMINA_WIDGET_REQUESTS_PER_MINUTE": "1000000",
                    "CHATMINA_WIDGET_MESSAGES_PER_MINUTE": "1000",
                    "CHATMINA_ALLOWED_PRIVATE_HOSTS": "127.0.0.1",
                },
            )
            server.start()
            try:
                found = asyncio.run(_measure(server.url, public_id, server.pid))
            finally:
                server.stop()
    finally:
        model.close()
    latencies = found["latencies"]
    detail = {
        "streams": STREAMS,
        "messages": MESSAGES,
        "rate_per_s": MESSAGE_RATE,
        "missing_events": found["missing"],
        "p50_ms": round(median(latencies), 2),
        "server_cores_busy": round(found["busy"], 2),
        "post_response_p50_ms": found["post_p50_ms"],
        "streams_open_at_end": found["open_at_end"],
    }
    quiet = found["quiet_latencies"]
    quiet_detail = {
        "streams": STREAMS,
        "messages": MESSAGES,
        "p50_ms": round(median(quiet), 2),
        "server_cores_busy": round(found["quiet_busy"], 2),
        "post_response_p50_ms": found["quiet_post_p50_ms"],
    }
    return [
        Result(
            "conversations_sse_1000_server_rss_mb",
            found["rss_idle"],
            RSS_TARGET_MB,
            "MB",
            extra={
                "streams": STREAMS,
                "rss_before_mb": round(found["rss_before"], 1),
                "peak_under_messages_mb": round(found["rss_peak"], 1),
                "connect_seconds": round(found["connect_s"], 2),
                "idle_server_cores_busy": round(found["idle_busy"], 3),
            },
        ),
        Result(
            "conversations_sse_1000_server_peak_rss_mb",
            found["rss_peak"],
            RSS_TARGET_MB,
            "MB",
            extra={"streams": STREAMS, "messages": 2 * MESSAGES},
        ),
        Result(
            "conversations_inbox_event_p95_ms",
            percentile(latencies, 95),
            P95_TARGET_MS,
            "ms",
            extra=detail,
        ),
        Result(
            "conversations_inbox_event_no_answer_p95_ms",
            percentile(quiet, 95),
            None,
            "ms",
            extra=quiet_detail,
        ),
    ]
