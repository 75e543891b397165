"""The assistant answering a widget visitor, in the background.

POST /messages answers 202 at once; the answer streams to the visitor's event stream:
``answer.delta`` for its words, ``answer.status`` while an AI Function runs, then the
stored ``message``. One answer at a time per conversation, in the order asked. If a
person took the conversation in the meantime, the assistant stays silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio.to_thread

from chatmina.assistant.events import Finished, Token, ToolStatus
from chatmina.assistant.pipeline import Answerer, Question
from chatmina.conversations import service as conversations
from chatmina.conversations.routing import Changed

if TYPE_CHECKING:
    from chatmina.conversations.live import Live

log = logging.getLogger("chatmina.conversations")


@dataclass(frozen=True)
class Ask:
    workspace_id: int
    company: str
    visitor_id: int
    conversation_id: int
    message_id: int
    text: str
    verified: bool


class Answers:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}  # lock, answers waiting on it
        self._streaming: dict[int, asyncio.Task[None]] = {}  # conversation -> its answer
        self._stopped: set[int] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, answerer: Answerer, live: Live, ask: Ask) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.create_task(self._answer(answerer, live, ask))
        self._tasks.add(task)  # a task nobody references can be garbage-collected mid-way
        task.add_done_callback(self._tasks.discard)

    @property
    def running(self) -> int:
        """Answers started and not finished (each returns at once when a person took over)."""
        return len(self._tasks)

    async def wait(self) -> None:
        """Until every answer started so far is stored (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def stop(self, conversation_id: int) -> None:
        """A person took the conversation: end the assistant's answer in progress, keeping
        what the visitor was already shown. Safe to call from any thread."""
        task, loop = self._streaming.get(conversation_id), self._loop
        if task is None or loop is None:
            return

        def cancel() -> None:
            if self._streaming.get(conversation_id) is task and not task.done():
                self._stopped.add(conversation_id)
                task.cancel()

        loop.call_soon_threadsafe(cancel)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.wait()

    async def _answer(self, answerer: Answerer, live: Live, ask: Ask) -> None:
        lock, waiting = self._locks.get(ask.conversation_id, (asyncio.Lock(), 0))
        self._locks[ask.conversation_id] = (lock, waiting + 1)
        try:
            async with lock:
                state = await anyio.to_thread.run_sync(
                    lambda: (
                        conversations.get(answerer.db, ask.workspace_id, ask.conversation_id).state
                    )
                )
                if state != "bot":
                    return
                live.typing_to_visitor(ask.visitor_id, "assistant", "", True)
                task = asyncio.current_task()
                assert task is not None
                self._streaming[ask.conversation_id] = task
                try:
                    await self._stream(answerer, live, ask)
                except asyncio.CancelledError:
                    if ask.conversation_id not in self._stopped:
                        raise  # shutting down
                    self._stopped.discard(ask.conversation_id)
                    task.uncancel()
                    # The cut answer was stored as "cancelled": the visitor keeps what they saw.
                    await anyio.to_thread.run_sync(self._show_cut_answer, live, ask)
                finally:
                    self._streaming.pop(ask.conversation_id, None)
                    live.typing_to_visitor(ask.visitor_id, "assistant", "", False)
        except Exception:
            log.exception("the widget answer in conversation %s failed", ask.conversation_id)
        finally:
            lock, waiting = self._locks[ask.conversation_id]
            if waiting <= 1:
                del self._locks[ask.conversation_id]
            else:
                self._locks[ask.conversation_id] = (lock, waiting - 1)

    @staticmethod
    def _show_cut_answer(live: Live, ask: Ask) -> None:
        message_id = conversations.last_answer_id(live.db, ask.workspace_id, ask.conversation_id)
        if message_id is not None:
            changed = Changed(ask.conversation_id, message_id, ask.visitor_id)
            live.message_added(ask.workspace_id, changed)

    async def _stream(self, answerer: Answerer, live: Live, ask: Ask) -> None:
        question = Question(
            ask.workspace_id,
            ask.company,
            ask.text,
            conversations.WIDGET,
            ask.conversation_id,
            verified=ask.verified,
            question_id=ask.message_id,
        )
        run = await answerer.start(question)
        async with contextlib.aclosing(run.events()) as events:
            async for event in events:
                if isinstance(event, Token):
                    live.answer_delta(
                        ask.visitor_id, ask.conversation_id, "answer.delta", event.text
                    )
                elif isinstance(event, ToolStatus) and event.state == "running":
                    live.answer_delta(
                        ask.visitor_id, ask.conversation_id, "answer.status", action(event.name)
                    )
                elif isinstance(event, Finished) and event.message_id is not None:
                    changed = Changed(ask.conversation_id, event.message_id, ask.visitor_id)
                    await anyio.to_thread.run_sync(live.message_added, ask.workspace_id, changed)


def action(function_name: str) -> str:
    """What the visitor reads while a function runs: "check_order" -> "Check order…"."""
    words = function_name.replace("_", " ").replace("-", " ").strip()
    return (words[:1].upper() + words[1:] if words else "Working") + "…"
