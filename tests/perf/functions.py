"""AI Function dispatch overhead: tool call parsed → request on the wire at a receiver.

The receiver runs in its own process and stamps ``time.perf_counter()`` (CLOCK_MONOTONIC,
the same clock in every process) the moment it has read a request's first line; it sends
the stamp back in its JSON answer. Chatmina's side starts its clock just before the tool
call's arguments are parsed and checked against the schema (``parse_arguments``), then
calls the real dispatcher: cached functions, signing, the checked outbound client, a
keep-alive connection to 127.0.0.1. The call log is written after the answer and is not
part of the overhead.

- ``functions_dispatch_overhead_p95_ms``: 500 sequential calls after 50 to warm up.
  Target p95 ≤ 5 ms. Extra: p50, the first (cold) call, the full round trip p50.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.perf.common import Result, median, percentile

MASTER_KEY = "6f" * 32
WARMUP, CALLS = 50, 500
P95_TARGET_MS = 5.0
SCHEMA = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string", "pattern": "^[0-9]{4,}$"},
        "email": {"type": "string", "format": "email"},
    },
    "required": ["order_id"],
    "additionalProperties": False,
}


# -- the receiver (its own process) ---------------------------------------------------------


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            arrived = time.perf_counter()
            length = 0
            while (header := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = header.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            body = json.dumps({"arrived": arrived, "status": "shipped"}).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()


async def _receiver() -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the benchmark closes stdin


# -- the benchmark ----------------------------------------------------------------------------


def _services(data_dir: Path) -> tuple[Any, int]:
    from chatmina.accounts import service as accounts
    from chatmina.app import build_services
    from chatmina.settings import load_settings

    settings = load_settings(
        {
            "CHATMINA_DATA_DIR": str(data_dir),
            "CHATMINA_MASTER_KEY": MASTER_KEY,
            "CHATMINA_PASSWORD_HASHING": "insecure-fast",
            "CHATMINA_ALLOWED_PRIVATE_HOSTS": "127.0.0.1",
        }
    )
    services = build_services(settings)
    _, workspace = accounts.create_owner(
        services.db,
        services.passwords,
        email="bench@example.com",
        name="Bench",
        password="correct horse battery",
        workspace_name="Bench",
    )
    return services, workspace.id


async def _measure(services: Any, workspace_id: int) -> dict[str, Any]:
    from sqlalchemy import func, select

    from chatmina.assistant.tools import CallContext, parse_arguments
    from chatmina.conversations import service as conversations
    from chatmina.functions.models import FunctionCall

    conversation_id, _ = conversations.add_question(
        services.db, workspace_id, None, "api", "Where is my order 123456?"
    )
    dispatcher = services.answerer.dispatcher
    raw = json.dumps({"order_id": "123456", "email": "visitor@example.com"})
    overheads: list[float] = []
    round_trips: list[float] = []
    first = 0.0
    for n in range(WARMUP + CALLS):
        began = time.perf_counter()
        tool = next(iter(await dispatcher.tools(workspace_id, verified=False)))
        arguments = parse_arguments(tool, raw)
        outcome = await dispatcher.call(
            tool, arguments, CallContext(workspace_id, conversation_id, f"call_{n}", False)
        )
        ended = time.perf_counter()
        assert outcome.ok, outcome.content
        overhead = (json.loads(outcome.content)["arrived"] - began) * 1000
        if n == 0:
            first = overhead
        if n >= WARMUP:
            overheads.append(overhead)
            round_trips.append((ended - began) * 1000)
    await dispatcher.aclose()
    with services.db.read() as s:
        count = s.scalar(select(func.count()).select_from(FunctionCall))
    assert count == WARMUP + CALLS, f"{count} calls logged"  # every call, after the fact
    return {"overheads": overheads, "round_trips": round_trips, "first": first}


def run() -> list[Result]:
    from chatmina.functions import service
    from chatmina.functions.validation import Submitted, clean

    receiver = subprocess.Popen(
        [sys.executable, "-m", "tests.perf.functions", "receiver"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        with tempfile.TemporaryDirectory() as tmp:
            services, workspace_id = _services(Path(tmp))
            definition = Submitted(
                name="order_status",
                description="Where an order is",
                parameters=SCHEMA,
                url=f"http://127.0.0.1:{port}/orders",
                method="POST",
                timeout_seconds=5,
                headers={"X-Api-Key": "bench-key"},
                enabled=True,
                only_verified=False,
            )
            allowed = frozenset({"127.0.0.1"})
            service.create_function(
                services.db, services.keys, workspace_id, clean(definition, allowed)
            )
            found = asyncio.run(_measure(services, workspace_id))
            services.db.close()
    finally:
        assert receiver.stdin is not None
        receiver.stdin.close()
        receiver.wait(timeout=10)
    overheads = found["overheads"]
    return [
        Result(
            "functions_dispatch_overhead_p95_ms",
            percentile(overheads, 95),
            P95_TARGET_MS,
            "ms",
            extra={
                "p50_ms": round(median(overheads), 3),
                "max_ms": round(max(overheads), 3),
                "first_call_ms": round(found["first"], 3),
                "round_trip_p50_ms": round(median(found["round_trips"]), 3),
                "calls": len(overheads),
            },
        )
    ]


if __name__ == "__main__":
    if sys.argv[1:] == ["receiver"]:
        asyncio.run(_receiver())
    else:
        for result in run():
            print(result.line())
