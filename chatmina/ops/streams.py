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
import weakref
from typing import Any

# Set when `chatmina serve` is asked to stop (see server()).
STOPPING = threading.Event()
POLL_S = 0.2

Message = dict[str, Any]


class _StopSignal:
    """A future of one event loop that is done once STOPPING is set.

    One poller per loop watches the flag while any request waits on it, instead of a timer
    per open request: 1,000 idle widget streams would otherwise wake the loop 5,000 times
    a second.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.stopped: asyncio.Future[None] = loop.create_future()
        self.waiting = 0
        self._poller: asyncio.Task[None] | None = None

    def enter(self) -> None:
        self.waiting += 1
        if self._poller is None or self._poller.done():
            self._poller = self.loop.create_task(self._poll())

    def leave(self) -> None:
        self.waiting -= 1
        if self.waiting <= 0 and self._poller is not None:
            self._poller.cancel()  # nothing left to watch for: no task outlives the requests
            self._poller = None

    async def _poll(self) -> None:
        while self.waiting > 0:
            if STOPPING.is_set():
                if not self.stopped.done():
                    self.stopped.set_result(None)
                return
            await asyncio.sleep(POLL_S)


_signals: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _StopSignal] = (
    weakref.WeakKeyDictionary()
)


def _stop_signal() -> _StopSignal:
    loop = asyncio.get_running_loop()
    signal = _signals.get(loop)
    if signal is None or (signal.stopped.done() and not STOPPING.is_set()):
        signal = _signals[loop] = _StopSignal(loop)
    return signal


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
                signal = _stop_signal()
                if signal.stopped.done():
                    # Stopping: check now and then for a response that turns into a stream.
                    await asyncio.wait({task}, timeout=POLL_S)
                else:
                    signal.enter()
                    try:
                        await asyncio.wait(
                            {task, signal.stopped}, return_when=asyncio.FIRST_COMPLETED
                        )
                    finally:
                        signal.leave()
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
