"""Live streams (Server-Sent Events) end cleanly as soon as the server is asked to stop.

Without this, a stop waits for every open stream until the graceful-shutdown timeout and
then cancels it mid-response (an error in the log, a cut connection for the browser). Here
the response is finished properly instead; browsers' EventSource reconnects by itself, to
the next server. Ordinary requests are left to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

# Set when `chatmina serve` is asked to stop (see server()).
STOPPING = threading.Event()
POLL_S = 0.2

Message = dict[str, Any]


def end_streams_on_stop(app: Any) -> Any:
    """ASGI middleware: finish open event streams once STOPPING is set."""

    async def middleware(scope: Message, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        state = {"stream": False, "finished": False}

        async def watched_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                kind = bytes(headers.get(b"content-type", b""))
                state["stream"] = kind.startswith(b"text/event-stream")
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                state["finished"] = True
            await send(message)

        task = asyncio.ensure_future(app(scope, receive, watched_send))
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=POLL_S)
                if STOPPING.is_set() and state["stream"] and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    if not state["finished"]:
                        await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
        except asyncio.CancelledError:
            task.cancel()
            raise
        task.result()  # the handler's own exception, if any, goes on as before

    return middleware


def server(config: Any) -> Any:
    """A uvicorn server whose stop request (SIGTERM, SIGINT) also sets STOPPING.

    uvicorn installs its own signal handlers while it serves, so the flag is set where it
    handles them.
    """
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            STOPPING.set()
            super().handle_exit(sig, frame)

    return Server(config)
